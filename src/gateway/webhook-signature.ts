/**
 * Signed webhook deliveries. A sender signs each request with the shared
 * secret (`WEBHOOK_SIGNATURE_SECRET`) and sends
 *
 *     X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
 *
 * The timestamp is part of what is signed, so a captured request cannot be
 * replayed once it is older than the tolerance. Several `v1` values may be
 * sent (while a secret is being rotated); one matching is enough.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-signature';

/** How far a signature's timestamp may be from our clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type SignatureVerdict =
  | { ok: true; timestamp: number; /** The matching signature (hex): one per timestamp and body. */ signature: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch'; message: string };

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The hex HMAC-SHA256 of `<timestamp>.<body>`. */
export function computeSignature(secret: string, timestamp: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The `X-Signature` value for `body` signed at `timestamp` (unix seconds; now by default). */
export function signWebhook(secret: string, body: Buffer | string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, body)}`;
}

/**
 * Checks an `X-Signature` header against the raw body. The comparison runs in
 * constant time; each failure says which rule was broken, never what the
 * expected signature was.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: Buffer | string,
  { now = Date.now(), toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS }: { now?: number; toleranceSeconds?: number } = {},
): SignatureVerdict {
  if (header === undefined || header.trim() === '') {
    return { ok: false, reason: 'missing', message: 'the X-Signature header is missing: sign the request as "t=<unix seconds>,v1=<hex HMAC-SHA256>"' };
  }
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0 || name === '') return malformed();
    if (name === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return malformed();
      timestamp = Number(value);
    } else if (name === 'v1') {
      if (!HEX_SHA256.test(value.toLowerCase())) return malformed();
      signatures.push(value.toLowerCase());
    }
    // Other schemes (v0, v2, …) are ignored, so senders can add them ahead of us.
  }
  if (timestamp === undefined || signatures.length === 0) return malformed();

  const age = Math.abs(Math.floor(now / 1000) - timestamp);
  if (age > toleranceSeconds) {
    return {
      ok: false,
      reason: 'expired',
      message: `the signature timestamp is outside the tolerance of ${toleranceSeconds} s; sign each delivery when it is sent`,
    };
  }

  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  // Check every candidate so the time taken does not depend on which one matched.
  let matched = false;
  for (const candidate of signatures) {
    if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) matched = true;
  }
  if (!matched) {
    return { ok: false, reason: 'mismatch', message: 'the signature does not match the body: sign "<t>.<raw body>" with the shared secret' };
  }
  return { ok: true, timestamp, signature: expected.toString('hex') };
}

function malformed(): SignatureVerdict {
  return {
    ok: false,
    reason: 'malformed',
    message: 'the X-Signature header is malformed: expected "t=<unix seconds>,v1=<64 hex digits>"',
  };
}
