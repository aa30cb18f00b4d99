/**
 * Error reports to Sentry, sent only when SENTRY_DSN is set: the gateway's
 * unexpected errors (its 500s) and the worker's failures.
 *
 * Reports leave without credentials or secrets: the request headers that
 * carry keys, signatures and sessions are dropped, so are request bodies and
 * cookies, and every configured secret value (and every API key) is blanked
 * wherever it shows up in an event: messages, stack traces, breadcrumbs, tags.
 * So is the value of every query parameter named like a credential (`key`,
 * `api_key`, `token`, `signature`, …; see `isCredentialParam` in logger.ts)
 * in URLs and query strings anywhere in an event or breadcrumb.
 * Without a DSN every function here does nothing, and Sentry's SDK is not
 * even loaded (it is a tenth of a second of a process's start).
 */
import type * as SentrySdk from '@sentry/node';
import type { Config } from '../config';
import { redactQueryCredentials } from '../logger';

export const REDACTED = '[redacted]';

/** Headers never reported: they carry API keys, webhook signatures and sessions. */
export const SENSITIVE_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'x-api-key', 'x-signature', 'webhook-signature', 'cookie', 'set-cookie'];

/** API keys as this gateway issues them, wherever they appear in text. */
const API_KEY_TEXT = /wfa_[A-Za-z0-9_-]{43}/g;

/** Secret values shorter than this are not searched for: blanking them would blank ordinary words. */
const MIN_SECRET_LENGTH = 4;

/**
 * What to blank in reports: each configured secret value and, for URLs that
 * carry a password (DATABASE_URL), the password on its own too. Longest
 * first, so a value containing another is blanked whole.
 */
export function secretsToScrub(config: Config): string[] {
  const found = new Set<string>();
  for (const value of config.secretValues) {
    found.add(value);
    try {
      const url = new URL(value);
      if (url.password) {
        found.add(url.password);
        found.add(decodeURIComponent(url.password));
      }
    } catch {
      // not a URL
    }
  }
  return [...found].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

function scrubText(text: string, secrets: readonly string[]): string {
  let out = redactQueryCredentials(text).replace(API_KEY_TEXT, REDACTED);
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of `value` with secrets blanked in every string (keys included) and
 * every property named like a sensitive header blanked whole.
 */
export function scrubValue<T>(value: T, secrets: readonly string[], seen = new WeakMap<object, unknown>()): T {
  if (typeof value === 'string') return scrubText(value, secrets) as T;
  if (Array.isArray(value)) {
    if (seen.has(value)) return seen.get(value) as T;
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) copy.push(scrubValue(item, secrets, seen));
    return copy as T;
  }
  if (isPlainObject(value)) {
    if (seen.has(value)) return seen.get(value) as T;
    const copy: Record<string, unknown> = {};
    seen.set(value, copy);
    for (const [key, item] of Object.entries(value)) {
      copy[scrubText(key, secrets)] = SENSITIVE_HEADERS.includes(key.toLowerCase()) ? REDACTED : scrubValue(item, secrets, seen);
    }
    return copy as T;
  }
  return value;
}

/** The event as it may leave: no credential headers, no body or cookies, no secret anywhere. */
export function scrubEvent<E extends SentrySdk.Event>(event: E, secrets: readonly string[]): E {
  if (event.request) {
    const { headers, cookies: _cookies, data: _body, query_string: query, ...request } = event.request;
    event.request = {
      ...request,
      // As text (pairs or an object otherwise), so credential parameters are found by name like anywhere else.
      ...(query !== undefined ? { query_string: typeof query === 'string' ? query : new URLSearchParams(query).toString() } : {}),
      ...(headers
        ? { headers: Object.fromEntries(Object.entries(headers).filter(([name]) => !SENSITIVE_HEADERS.includes(name.toLowerCase()))) }
        : {}),
    };
  }
  return scrubValue(event, secrets);
}

/** Sentry's options for a process with this configuration. */
function sentryOptions(Sentry: typeof SentrySdk, config: Config, dsn: string, service: string): SentrySdk.NodeOptions {
  const secrets = secretsToScrub(config);
  return {
    dsn,
    environment: config.env,
    initialScope: { tags: { service } },
    includeLocalVariables: false,
    // Collect as little as is useful: no bodies, cookies, user data or local variables;
    // request headers but those carrying credentials (which beforeSend drops again).
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: { request: { deny: [...SENSITIVE_HEADERS] }, response: false },
      httpBodies: [],
      databaseQueryData: false,
      // Beside Sentry's own list (key, token, secret, auth, password, …): signatures and the OIDC code.
      urlQueryParams: { deny: ['sig', 'code'] },
      queues: false,
      stackFrameVariables: false,
    },
    // Errors only (no tracesSampleRate: no performance tracing), and no trace
    // headers added to calls to providers and user APIs.
    tracePropagationTargets: [],
    integrations: (defaults) => [
      ...defaults.filter((integration) => integration.name !== 'Http'),
      Sentry.httpIntegration({ maxRequestBodySize: 'none', sessions: false, tracePropagation: false }),
    ],
    beforeSend: (event) => scrubEvent(event, secrets),
    beforeBreadcrumb: (breadcrumb) => scrubValue(breadcrumb, secrets),
  };
}

/**
 * Starts error reporting for this process when SENTRY_DSN is set; says
 * whether it did. Call it once, first thing in an entry point.
 */
export async function initErrorReporting(config: Config, service: 'gateway' | 'worker'): Promise<boolean> {
  if (!config.sentryDsn) return false;
  sentry = await import('@sentry/node');
  sentry.init(sentryOptions(sentry, config, config.sentryDsn, service));
  return true;
}

/** Sentry's SDK, once error reporting has started. */
let sentry: typeof SentrySdk | undefined;

export interface ErrorContext {
  /** Short, searchable values: request id, route, activity type. */
  tags?: Record<string, string | number | undefined>;
  /** Anything else worth seeing next to the error (never request bodies or trigger data). */
  extra?: Record<string, unknown>;
}

/** Reports an error; does nothing when error reporting is off. */
export function reportError(err: unknown, { tags = {}, extra = {} }: ErrorContext = {}): void {
  if (!sentry?.isInitialized()) return;
  const definedTags = Object.fromEntries(Object.entries(tags).filter((entry): entry is [string, string | number] => entry[1] !== undefined));
  sentry.captureException(err, { tags: definedTags, extra });
}

/** Waits until reports are sent, at most `timeoutMs`; true when all were. */
export async function flushErrorReports(timeoutMs = 2_000): Promise<boolean> {
  if (!sentry?.isInitialized()) return true;
  return sentry.flush(timeoutMs);
}
