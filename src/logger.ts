import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/** Paths pino blanks in every line: credentials never reach the logs. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-signature"]',
  'req.headers["webhook-signature"]',
  '*.password',
  '*.pass',
  '*.token',
  '*.secret',
  '*.authToken',
  '*.apiKey',
];

/** What a credential's value is replaced with in logs and error reports. */
const REDACTED_VALUE = '[redacted]';

/**
 * Names of query parameters whose values are credentials, compared as
 * lower-case words (`X-Api-Key` is `x api key`): these whole
 * (`sig`, the `code` an OIDC provider sends the console back with, …), any
 * name whose last word is `key` (`key`, `api_key`, `x-api-key`), and any
 * name ending in one of the {@link CREDENTIAL_ENDINGS} (`apikey`,
 * `access_token`, `client_secret`, `X-Amz-Signature`, …).
 */
const CREDENTIAL_PARAMS = new Set(['key', 'sig', 'pwd', 'auth', 'authorization', 'code']);
const CREDENTIAL_ENDINGS = ['apikey', 'token', 'secret', 'password', 'passwd', 'signature'];

/** Whether a query parameter of this name (decoded) carries a credential. */
export function isCredentialParam(name: string): boolean {
  const words = name.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  const bare = words.join('');
  return CREDENTIAL_PARAMS.has(bare) || words.at(-1) === 'key' || CREDENTIAL_ENDINGS.some((ending) => bare.endsWith(ending));
}

/** A `name=value` pair of a query string: after `?`, `&` or `;`, or at the start of the text. */
const QUERY_PAIR = /(^|[?&;])([^?&;=#\s/]+)=([^&;#\s"'<>]*)/g;

/**
 * `text` (a URL, a query string, or any text that quotes one) with the value
 * of every credential parameter replaced: `/api/x?api_key=wfa_…&limit=5` →
 * `/api/x?api_key=[redacted]&limit=5`. Names are matched as decoded
 * (`api%5Fkey` too) and whatever their case.
 */
export function redactQueryCredentials(text: string): string {
  if (!text.includes('=')) return text;
  return text.replace(QUERY_PAIR, (pair, start: string, name: string, value: string) => {
    if (value === '' || !isCredentialParam(decodeLeniently(name))) return pair;
    return `${start}${name}=${REDACTED_VALUE}`;
  });
}

function decodeLeniently(component: string): string {
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    return component;
  }
}

export function createLogger(config: Pick<Config, 'logLevel'>, name: string): Logger {
  return pino({ name, level: config.logLevel, redact: { paths: REDACT_PATHS, censor: REDACTED_VALUE } });
}
