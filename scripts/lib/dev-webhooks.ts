/**
 * Webhooks under `npm run dev`: with no `WEBHOOK_SIGNATURE_SECRET` set, a
 * development secret (Standard Webhooks, `whsec_…`) made once and kept in the
 * dev data folder, so hooks work from the first start and a sender set up
 * with it keeps working across restarts; and a signed `curl` to paste.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { standardSecretKey } from '../../src/gateway/webhook-signature';

/** Bytes of a generated secret's key: 256 bits, within the spec's 192 to 512. */
const KEY_BYTES = 32;

/**
 * The development secret kept in `file`, made (readable by its owner only)
 * when there is none or what is there is not a usable `whsec_` secret.
 */
export async function devWebhookSecret(file: string): Promise<{ secret: string; created: boolean }> {
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (kept && typeof standardSecretKey(kept) !== 'string') return { secret: kept, created: false };
  const secret = `whsec_${randomBytes(KEY_BYTES).toString('base64')}`;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { secret, created: true };
}

/**
 * Shell lines (bash or zsh, with openssl) that sign `body` with `secret` at
 * the moment they run and post it to the hook of definition `hookKey`: a new
 * `webhook-id` each time, so each paste starts a run.
 */
export function signedHookLines(apiUrl: string, hookKey: string, secret: string, body: Record<string, unknown>): string[] {
  const key = standardSecretKey(secret);
  if (typeof key === 'string') throw new Error(`the webhook secret ${key}`);
  const quoted = `'${JSON.stringify(body).replace(/'/g, "'\\''")}'`;
  return [
    `    BODY=${quoted} ID=evt-$(date +%s)-$RANDOM TS=$(date +%s)`,
    `    SIG=$(printf '%s.%s.%s' "$ID" "$TS" "$BODY" | openssl dgst -sha256 -mac HMAC -macopt hexkey:${key.toString('hex')} -binary | base64)`,
    `    curl -s -X POST ${apiUrl}/api/hooks/${encodeURIComponent(hookKey)} -H 'content-type: application/json' \\`,
    `      -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" --data-binary "$BODY"`,
  ];
}
