/**
 * Signed webhook deliveries: WEBHOOK_SIGNATURE_SECRET and
 * WEBHOOK_SIGNATURE_SCHEME, checked together.
 */
import { z } from 'zod';
import { standardSecretKey, WEBHOOK_SIGNATURE_SCHEMES, type WebhookSignatureScheme } from '../gateway/webhook-signature';
import { ConfigError, list, optionalString } from './variables';

/** Signed webhook deliveries (`POST /api/hooks/<key>`). */
export interface WebhookConfig {
  /** Which signatures are taken (WEBHOOK_SIGNATURE_SCHEME). @default 'standard' */
  readonly scheme: WebhookSignatureScheme;
  /** Every secret accepted, as written (several while one is rotated). */
  readonly secrets: readonly string[];
}

/** The variables of signed webhook deliveries, checked together by webhookConfig. */
export const webhookVariables = z.object({
  /** Comma-separated; `whsec_<base64>` for the standard scheme (src/gateway/webhook-signature.ts). */
  WEBHOOK_SIGNATURE_SECRET: optionalString,
  WEBHOOK_SIGNATURE_SCHEME: z
    .enum(WEBHOOK_SIGNATURE_SCHEMES, { error: `must be one of ${WEBHOOK_SIGNATURE_SCHEMES.join(', ')}` })
    .default('standard'),
});

/**
 * WEBHOOK_SIGNATURE_SECRET and WEBHOOK_SIGNATURE_SCHEME, checked: under
 * `standard` every secret is `whsec_<base64>`; under `both` at least one is
 * (the others serve legacy senders only) and none is a broken `whsec_`.
 */
export function webhookConfig(e: z.output<typeof webhookVariables>): WebhookConfig | undefined {
  const secrets = list(e.WEBHOOK_SIGNATURE_SECRET);
  if (secrets.length === 0) return undefined;
  const scheme = e.WEBHOOK_SIGNATURE_SCHEME;
  if (scheme === 'legacy') return { scheme, secrets };
  const problems: string[] = [];
  const standard = secrets.map((secret, i) => {
    const key = standardSecretKey(secret);
    const broken = typeof key === 'string' && (scheme === 'standard' || secret.startsWith('whsec_'));
    if (broken) problems.push(`WEBHOOK_SIGNATURE_SECRET entry ${i + 1} of ${secrets.length} ${key}`);
    return typeof key !== 'string';
  });
  if (problems.length > 0) {
    problems.push(
      'WEBHOOK_SIGNATURE_SECRET: a Standard Webhooks secret is whsec_ and the base64 of 24 to 64 random bytes (echo "whsec_$(openssl rand -base64 32)"); ' +
        'for senders signing X-Signature with an older secret, set WEBHOOK_SIGNATURE_SCHEME=both (or legacy): see docs/DEPLOYMENT.md',
    );
    throw new ConfigError(problems);
  }
  if (!standard.includes(true)) {
    throw new ConfigError([
      'WEBHOOK_SIGNATURE_SECRET has no whsec_ secret, which WEBHOOK_SIGNATURE_SCHEME=both needs for standard signatures: add one, or set legacy',
    ]);
  }
  return { scheme, secrets };
}
