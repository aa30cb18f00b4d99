/**
 * Signed webhook deliveries. The sender holds a shared secret
 * (`WEBHOOK_SIGNATURE_SECRET`) and signs each request in one of two schemes,
 * as `WEBHOOK_SIGNATURE_SCHEME` allows.
 *
 * **standard** ([Standard Webhooks](https://www.standardwebhooks.com), the default):
 *
 *     webhook-id: <the delivery's id>
 *     webhook-timestamp: <unix seconds>
 *     webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>"> [v1,… …]
 *
 * keyed with the base64-decoded bytes of a `whsec_<base64>` secret. The id is
 * signed, so a captured delivery sent again under another id fails; under its
 * own id it is the same delivery (the route de-duplicates by id).
 *
 * **legacy**, for senders from before: `X-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<raw body>">`, keyed with the secret's text as written.
 * Its `X-Delivery-Id` is not signed.
 *
 * In both, the timestamp must be within {@link SIGNATURE_TOLERANCE_SECONDS} of
 * our clock, several signatures may be sent (while a secret is rotated) and one
 * matching is enough, comparisons run in constant time, and a failure says which
 * rule was broken, never what the expected signature was.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What `WEBHOOK_SIGNATURE_SCHEME` may say; `both` accepts either, standard first. */
export const WEBHOOK_SIGNATURE_SCHEMES = ['standard', 'legacy', 'both'] as const;
export type WebhookSignatureScheme = (typeof WEBHOOK_SIGNATURE_SCHEMES)[number];

/** How far a signature's timestamp may be from our clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export const STANDARD_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;
export const LEGACY_SIGNATURE_HEADER = 'x-signature';

/**
 * A `webhook-id`: it becomes the delivery's idempotency key. No `.`, which
 * separates the signed parts (the spec asks for this).
 */
export const WEBHOOK_ID_PATTERN = /^[A-Za-z0-9_:-]{1,200}$/;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;
/** The base64 of a 32-byte HMAC-SHA256, padded. */
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

const SECRET_PREFIX = 'whsec_';
/** Bounds of a standard secret's key, in bytes (the spec's 192 bits to 512). */
export const STANDARD_KEY_BYTES = { min: 24, max: 64 } as const;

/** Where a delivery's signature stands: a success names what identifies the delivery. */
export type SignatureVerdict =
  | { ok: true; scheme: 'standard'; /** The signed `webhook-id`. */ deliveryId: string }
  | { ok: true; scheme: 'legacy'; timestamp: number; /** The matching signature (hex): one per timestamp and body. */ signature: string }
  | {
      ok: false;
      reason: 'missing' | 'malformed' | 'expired' | 'mismatch';
      message: string;
      /** The header at fault (lower case), and what is wrong with it in a few words. */
      field: { header: string; message: string };
    };

type Failure = Extract<SignatureVerdict, { ok: false }>;

export interface VerifyOptions {
  /** Our clock, in milliseconds. @default Date.now() */
  now?: number;
  /** @default SIGNATURE_TOLERANCE_SECONDS */
  toleranceSeconds?: number;
}

/**
 * The HMAC key a `whsec_<base64>` secret stands for: its decoded bytes, or a
 * sentence saying what is wrong (never the secret itself).
 */
export function standardSecretKey(secret: string): Buffer | string {
  if (!secret.startsWith(SECRET_PREFIX)) return `is not written as ${SECRET_PREFIX}<base64>`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  const key = Buffer.from(encoded, 'base64');
  // Buffer.from skips what is not base64: encoding back shows whether anything was skipped.
  if (encoded === '' || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    return `is not base64 after ${SECRET_PREFIX}`;
  }
  if (key.length < STANDARD_KEY_BYTES.min || key.length > STANDARD_KEY_BYTES.max) {
    return `decodes to ${key.length} bytes; a key is ${STANDARD_KEY_BYTES.min} to ${STANDARD_KEY_BYTES.max} random bytes`;
  }
  return key;
}

/** The base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`. */
export function computeStandardSignature(key: Buffer, id: string, timestamp: number, body: Buffer | string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
}

/**
 * The three headers of a delivery with this id, signed with each of `secrets`
 * (`whsec_…`) at `timestamp` (unix seconds; now by default).
 */
export function signStandardWebhook(
  secrets: string | readonly string[],
  id: string,
  body: Buffer | string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<(typeof STANDARD_HEADERS)[keyof typeof STANDARD_HEADERS], string> {
  const signatures = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) => {
    const key = standardSecretKey(secret);
    if (typeof key === 'string') throw new Error(`a webhook secret ${key}`);
    return `v1,${computeStandardSignature(key, id, timestamp, body)}`;
  });
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatures.join(' ') };
}

/** Checks a Standard Webhooks delivery against the raw body, with any one of `keys`. */
export function verifyStandardSignature(
  keys: readonly Buffer[],
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  body: Buffer | string,
  options: VerifyOptions = {},
): SignatureVerdict {
  for (const part of ['id', 'timestamp', 'signature'] as const) {
    if (headers[part] === undefined || headers[part].trim() === '') {
      const header = STANDARD_HEADERS[part];
      return fail('missing', header, 'is missing', `the ${header} header is missing: a delivery carries webhook-id, webhook-timestamp and webhook-signature`);
    }
  }
  const id = headers.id!.trim();
  if (!WEBHOOK_ID_PATTERN.test(id)) {
    const rule = 'must be 1 to 200 characters of letters, digits, "_", ":" and "-"';
    return fail('malformed', STANDARD_HEADERS.id, rule, `the webhook-id header ${rule}`);
  }
  const stamp = headers.timestamp!.trim();
  if (!TIMESTAMP_PATTERN.test(stamp)) {
    const rule = 'must be the time of sending in unix seconds';
    return fail('malformed', STANDARD_HEADERS.timestamp, rule, `the webhook-timestamp header ${rule}`);
  }
  const candidates: Buffer[] = [];
  for (const entry of headers.signature!.trim().split(/ +/)) {
    const comma = entry.indexOf(',');
    const version = entry.slice(0, comma);
    const value = entry.slice(comma + 1);
    if (comma <= 0) return malformedStandard();
    if (version !== 'v1') continue; // v1a (asymmetric) and later versions: not ours to check
    if (!BASE64_SHA256.test(value)) return malformedStandard();
    candidates.push(Buffer.from(value, 'base64'));
  }
  if (candidates.length === 0) return malformedStandard();

  const timestamp = Number(stamp);
  const expired = checkAge(timestamp, options, STANDARD_HEADERS.timestamp);
  if (expired) return expired;

  const expected = keys.map((key) => Buffer.from(computeStandardSignature(key, id, timestamp, body), 'base64'));
  if (!firstMatch(expected, candidates)) {
    return fail(
      'mismatch',
      STANDARD_HEADERS.signature,
      'does not match the id, timestamp and body',
      'the signature does not match: sign "<webhook-id>.<webhook-timestamp>.<raw body>" with the shared secret; a changed id, timestamp or body fails',
    );
  }
  return { ok: true, scheme: 'standard', deliveryId: id };
}

/** The hex HMAC-SHA256 of `<timestamp>.<body>` (legacy scheme). */
export function computeLegacySignature(secret: string, timestamp: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The legacy `X-Signature` value for `body` signed at `timestamp` (unix seconds; now by default). */
export function signLegacyWebhook(secret: string, body: Buffer | string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${computeLegacySignature(secret, timestamp, body)}`;
}

/** Checks a legacy `X-Signature` header against the raw body, with any one of `secrets`. */
export function verifyLegacySignature(
  secrets: readonly string[],
  header: string | undefined,
  body: Buffer | string,
  options: VerifyOptions = {},
): SignatureVerdict {
  if (header === undefined || header.trim() === '') {
    return fail('missing', LEGACY_SIGNATURE_HEADER, 'is missing', 'the X-Signature header is missing: sign the request as "t=<unix seconds>,v1=<hex HMAC-SHA256>"');
  }
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0 || name === '') return malformedLegacy();
    if (name === 't') {
      if (timestamp !== undefined || !TIMESTAMP_PATTERN.test(value)) return malformedLegacy();
      timestamp = Number(value);
    } else if (name === 'v1') {
      if (!HEX_SHA256.test(value.toLowerCase())) return malformedLegacy();
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, v2, …) are ignored, so senders can add them ahead of us.
  }
  if (timestamp === undefined || candidates.length === 0) return malformedLegacy();

  const expired = checkAge(timestamp, options, LEGACY_SIGNATURE_HEADER);
  if (expired) return expired;

  const expected = secrets.map((secret) => Buffer.from(computeLegacySignature(secret, timestamp, body), 'hex'));
  const matched = firstMatch(expected, candidates);
  if (!matched) {
    return fail('mismatch', LEGACY_SIGNATURE_HEADER, 'does not match the timestamp and body', 'the signature does not match the body: sign "<t>.<raw body>" with the shared secret');
  }
  return { ok: true, scheme: 'legacy', timestamp, signature: matched.toString('hex') };
}

/**
 * Checks a delivery in the scheme(s) `scheme` allows: under `both`, a request
 * carrying any `webhook-*` header is checked as standard, one without as legacy.
 * `secrets` are as configured: under `standard` each is `whsec_…`; legacy
 * signatures are keyed with each secret's text.
 */
export function verifyDelivery(
  { scheme, secrets }: { scheme: WebhookSignatureScheme; secrets: readonly string[] },
  header: (name: string) => string | undefined,
  body: Buffer | string,
  options: VerifyOptions = {},
): SignatureVerdict {
  const standard = {
    id: header(STANDARD_HEADERS.id),
    timestamp: header(STANDARD_HEADERS.timestamp),
    signature: header(STANDARD_HEADERS.signature),
  };
  const sentStandard = Object.values(standard).some((v) => v !== undefined);
  const sentLegacy = header(LEGACY_SIGNATURE_HEADER) !== undefined;

  if (scheme === 'legacy' || (scheme === 'both' && !sentStandard && sentLegacy)) {
    const verdict = verifyLegacySignature(secrets, header(LEGACY_SIGNATURE_HEADER), body, options);
    if (!verdict.ok && verdict.reason === 'missing' && sentStandard) {
      return { ...verdict, message: `${verdict.message}; this gateway takes the legacy scheme only, not webhook-signature` };
    }
    return verdict;
  }
  if (scheme === 'standard' && !sentStandard && sentLegacy) {
    return fail(
      'missing',
      STANDARD_HEADERS.signature,
      'is missing',
      'this gateway takes Standard Webhooks signatures only (webhook-id, webhook-timestamp, webhook-signature); X-Signature, the legacy scheme, is turned off',
    );
  }
  if (scheme === 'both' && !sentStandard) {
    return fail(
      'missing',
      STANDARD_HEADERS.signature,
      'is missing',
      'the request is not signed: send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks), or X-Signature (legacy)',
    );
  }
  const keys = secrets.map(standardSecretKey).filter((key): key is Buffer => typeof key !== 'string');
  return verifyStandardSignature(keys, standard, body, options);
}

function checkAge(timestamp: number, { now = Date.now(), toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS }: VerifyOptions, header: string): Failure | undefined {
  if (Math.abs(Math.floor(now / 1000) - timestamp) <= toleranceSeconds) return undefined;
  return fail(
    'expired',
    header,
    `is more than ${toleranceSeconds} s from the gateway's clock`,
    `the signature timestamp is outside the tolerance of ${toleranceSeconds} s; sign each delivery when it is sent`,
  );
}

/**
 * The first expected signature that equals a candidate. Every pair is
 * compared, each in constant time, so the time taken does not tell which matched.
 */
function firstMatch(expected: readonly Buffer[], candidates: readonly Buffer[]): Buffer | undefined {
  let matched: Buffer | undefined;
  for (const e of expected) {
    for (const c of candidates) {
      if (timingSafeEqual(e, c) && matched === undefined) matched = e;
    }
  }
  return matched;
}

function fail(reason: Failure['reason'], header: string, fieldMessage: string, message: string): Failure {
  return { ok: false, reason, message, field: { header, message: fieldMessage } };
}

function malformedStandard(): Failure {
  const rule = 'must be space-separated "v1,<base64 HMAC-SHA256>" signatures';
  return fail('malformed', STANDARD_HEADERS.signature, rule, `the webhook-signature header is malformed: it ${rule}`);
}

function malformedLegacy(): Failure {
  const rule = 'must be "t=<unix seconds>,v1=<64 hex digits>"';
  return fail('malformed', LEGACY_SIGNATURE_HEADER, rule, `the X-Signature header is malformed: it ${rule}`);
}
