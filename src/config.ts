/**
 * The one place that reads `process.env`. Everything else receives the frozen
 * {@link Config} object this module returns.
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { ApiKeyRole } from '../db/schema';
import { standardSecretKey, WEBHOOK_SIGNATURE_SCHEMES, type WebhookSignatureScheme } from './gateway/webhook-signature';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      error: 'must be one of true, false, 1, 0, yes, no',
    })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** Empty strings in a `.env` file mean "not set". */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** A switch whose default depends on other settings: undefined when not set. */
const optionalBool = optionalString
  .refine((v) => v === undefined || ['true', 'false', '1', '0', 'yes', 'no'].includes(v), {
    message: 'must be one of true, false, 1, 0, yes, no',
  })
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

const optionalUrl = (protocols: string[]) =>
  optionalString.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

/** A table name as `DATA_TABLES` lists it: `table` or `schema.table`, plain identifiers. */
const TABLE_NAME = /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(3000, 0, 65535),
  PUBLIC_URL: optionalUrl(['http:', 'https:']),
  TRUST_PROXY: optionalString.transform((v, ctx) => {
    const parsed = parseTrustProxy(v);
    if (parsed instanceof Error) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    return parsed;
  }),

  DATABASE_URL: z
    .string({ error: 'is required (postgres://user:password@host:5432/database)' })
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must start with postgres:// or postgresql://'),
  DATABASE_POOL_MAX: int(10, 1, 500),
  DATABASE_LISTEN_URL: optionalString.refine((v) => v === undefined || v === 'off' || /^postgres(ql)?:\/\//.test(v), 'must be off, or start with postgres:// or postgresql://'),
  DATA_DATABASE_URL: optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), 'must start with postgres:// or postgresql://'),
  DATA_TABLES: optionalString.refine((v) => list(v).every((name) => TABLE_NAME.test(name)), {
    message: 'must be a comma-separated list of table or schema.table names (letters, digits, _ and $)',
  }),
  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  REDIS_PASSWORD: optionalString,
  RATE_LIMIT_REDIS_PREFIX: z.string().min(1, 'must not be empty').max(100).default('wfa:ratelimit:'),

  TEMPORAL_ADDRESS: z.string().default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('workflow-automation'),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),

  SMTP_HOST: optionalString,
  SMTP_PORT: int(587, 1, 65535),
  SMTP_SECURE: bool(false),
  SMTP_USER: optionalString,
  SMTP_PASS: optionalString,
  SMTP_FROM: optionalString,
  EMAIL_MAX_ATTACHMENT_BYTES: int(10 * 1024 * 1024, 1),
  EMAIL_MAX_TOTAL_ATTACHMENT_BYTES: int(25 * 1024 * 1024, 1),

  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_PHONE_NUMBER: optionalString,
  TWILIO_MESSAGING_SERVICE_SID: optionalString,
  TWILIO_API_URL: optionalUrl(['http:', 'https:']),

  SLACK_BOT_TOKEN: optionalString,
  SLACK_WEBHOOK_URL: optionalUrl(['http:', 'https:']),
  SLACK_API_URL: optionalUrl(['http:', 'https:']),
  TEAMS_WEBHOOK_URL: optionalUrl(['http:', 'https:']),
  DEV_OUTBOX: optionalBool,
  EXPRESSION_ENV: optionalString,
  PACING_EMAIL_PER_MINUTE: int(0, 0, 100_000),
  PACING_SMS_PER_MINUTE: int(0, 0, 100_000),
  PACING_SLACK_PER_MINUTE: int(0, 0, 100_000),
  PACING_TEAMS_PER_MINUTE: int(0, 0, 100_000),

  WORKFLOW_MAX_CONCURRENT_EXECUTIONS: int(20, 1, 10_000),
  WORKFLOW_DEFAULT_TIMEOUT: int(300, 1, 86_400),
  WORKFLOW_HEARTBEAT_TIMEOUT: int(10, 2, 3_600),
  WORKFLOW_DATABASE_WAIT_LIMIT: int(86_400, 10, 2_592_000),
  WORKFLOW_QUEUE_CONCURRENCY: int(10, 1, 10_000),
  WORKFLOW_ENABLE_CACHING: bool(true),
  WORKFLOW_CACHE_TTL: int(3600, 0),
  WORKFLOW_CONTINUE_AS_NEW_EVENTS: int(10_000, 50, 50_000),
  MIRROR_RECONCILE_INTERVAL_MS: int(5000, 100, 3_600_000),
  REPORTS_REFRESH_INTERVAL_MS: int(60_000, 1000, 86_400_000),
  RETENTION_DAYS: int(90, 1, 36_500),
  RETENTION_AUDIT_DAYS: int(365, 1, 36_500),

  SENTRY_DSN: optionalUrl(['http:', 'https:']),
  LOG_LEVEL: logLevel.default('info'),
  METRICS_REQUIRE_KEY: bool(false),
  WORKER_METRICS_ADDRESS: optionalString.refine((v) => v === undefined || isBindAddress(v), {
    message: 'must be host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464 ([::1]:9464 for IPv6)',
  }),

  RATE_LIMIT_PER_MINUTE: int(120, 1, 1_000_000),
  ENABLE_RATE_LIMITING: bool(true),
  /** Comma-separated; `whsec_<base64>` for the standard scheme (src/gateway/webhook-signature.ts). */
  WEBHOOK_SIGNATURE_SECRET: optionalString,
  WEBHOOK_SIGNATURE_SCHEME: z
    .enum(WEBHOOK_SIGNATURE_SCHEMES, { error: `must be one of ${WEBHOOK_SIGNATURE_SCHEMES.join(', ')}` })
    .default('standard'),
  CORS_ORIGINS: optionalString,
  HTTP_ALLOWED_HOSTS: optionalString,

  OIDC_JWKS_URL: optionalString.refine((v) => v === undefined || isSafeJwksUrl(v), {
    message: 'must be an https:// URL (http:// only on a loopback address)',
  }),
  OIDC_ISSUER: optionalString,
  OIDC_AUDIENCE: optionalString,
  OIDC_ROLES_CLAIM: optionalString.refine((v) => v === undefined || isClaimPath(v), {
    message: 'must be a claim name, or a dotted path to a nested claim such as realm_access.roles',
  }),
  OIDC_ROLE_MAP: optionalString,
  OIDC_JWKS_COOLDOWN_SECONDS: int(30, 0, 3600),
  /** Payload encryption (src/temporal/encryption.ts): `<id>:<base64 of 32 bytes>`, comma-separated. */
  ENCRYPTION_KEYS: optionalString,
  ENCRYPTION_KEY_ID: optionalString,
  /** The console's sign-in through the provider (authorization code with PKCE, a public client). */
  OIDC_CONSOLE_CLIENT_ID: optionalString,
  OIDC_AUTHORIZATION_URL: optionalUrl(['http:', 'https:']),
  OIDC_TOKEN_URL: optionalUrl(['http:', 'https:']),
  OIDC_CONSOLE_SCOPE: optionalString,
});

export type Env = z.input<typeof envSchema>;
type Parsed = z.output<typeof envSchema>;

/** Variables whose values are secrets: never logged, never echoed in errors. */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'DATABASE_LISTEN_URL',
  'DATA_DATABASE_URL',
  'REDIS_PASSWORD',
  'SMTP_PASS',
  'TWILIO_AUTH_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_WEBHOOK_URL',
  'TEAMS_WEBHOOK_URL',
  'SENTRY_DSN',
  'WEBHOOK_SIGNATURE_SECRET',
  'ENCRYPTION_KEYS',
] as const;

export interface Config {
  readonly env: Parsed['NODE_ENV'];
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string | undefined;
    /**
     * Express's `trust proxy`: which hops' `X-Forwarded-For` to believe for the
     * client address (rate limits per address, logs). @default false
     */
    readonly trustProxy: TrustProxy;
  };
  readonly database: {
    readonly url: string;
    readonly poolMax: number;
    /**
     * Where the gateway listens for changed keys and definitions (a direct
     * connection: LISTEN does not pass a pooler in transaction mode); undefined
     * when `off`, which makes every lookup read the database. @default DATABASE_URL
     */
    readonly listenUrl: string | undefined;
  };
  readonly redis: {
    readonly url: string | undefined;
    readonly password: string | undefined;
    /** Prefix of the rate limiter's keys in Redis. @default 'wfa:ratelimit:' */
    readonly rateLimitPrefix: string;
  };
  readonly temporal: {
    readonly address: string;
    readonly namespace: string;
    readonly taskQueue: string;
    readonly uiUrl: string;
  };
  readonly smtp: {
    readonly host: string | undefined;
    readonly port: number;
    readonly secure: boolean;
    readonly user: string | undefined;
    readonly pass: string | undefined;
    readonly from: string | undefined;
    /** Largest attachment of an email step, in bytes. @default 10 MiB */
    readonly maxAttachmentBytes: number;
    /** Largest sum of an email step's attachments, in bytes. @default 25 MiB */
    readonly maxTotalAttachmentBytes: number;
  };
  readonly twilio: {
    readonly accountSid: string | undefined;
    readonly authToken: string | undefined;
    readonly phoneNumber: string | undefined;
    readonly messagingServiceSid: string | undefined;
    /** Base URL replacing Twilio's API hosts (a proxy; a loopback stand-in in tests). */
    readonly apiUrl: string | undefined;
  };
  readonly slack: {
    readonly botToken: string | undefined;
    readonly webhookUrl: string | undefined;
    readonly apiUrl: string | undefined;
  };
  readonly teams: { readonly webhookUrl: string | undefined };
  /**
   * A notification step (email, sms, slack, teams) whose channel has no
   * credentials records its message in the `dev_outbox` table, not delivered,
   * instead of failing. Off in test runs so they state what they rely on, and
   * off in production, where a missing variable must fail the run.
   * @default true when NODE_ENV is development, false otherwise
   */
  readonly devOutbox: boolean;
  /** Variables exposed to expressions as `env.<NAME>` (EXPRESSION_ENV): captured when a run starts, so not secrets. */
  readonly expressionEnv: Readonly<Record<string, string>>;
  /** Sends per minute allowed on each channel, across all runs; 0 leaves a channel unpaced. */
  readonly pacing: { readonly email: number; readonly sms: number; readonly slack: number; readonly teams: number };
  /** Where `db_insert` and `db_update` steps write, and the only tables they may touch. */
  readonly data: {
    /** @default DATABASE_URL */
    readonly url: string;
    /** Allowed tables as listed, `table` or `schema.table`; none by default, which turns the steps off. */
    readonly tables: readonly string[];
  };
  readonly workflow: {
    /** Concurrent workflow tasks per worker. @default 20 */
    readonly maxConcurrentExecutions: number;
    /** Default start-to-close timeout of a step's activity, in seconds. @default 300 */
    readonly defaultTimeoutSeconds: number;
    /** Seconds a step's activity may go without a heartbeat before it is retried elsewhere (a dead worker). @default 10 */
    readonly heartbeatTimeoutSeconds: number;
    /**
     * Seconds a step waits, in all, for the product's own Postgres to answer
     * again (the delivery ledger, pacing) before it fails with
     * `DatabaseUnavailable`; the wait spends none of the step's retries. @default 86400
     */
    readonly databaseWaitLimitSeconds: number;
    /** Concurrent activities (deliveries, data updates) per worker. @default 10 */
    readonly queueConcurrency: number;
    /** Keep workflows cached on the worker between tasks (sticky execution). @default true */
    readonly enableCaching: boolean;
    /** Seconds a definition version stays in the gateway's cache. @default 3600 */
    readonly cacheTtlSeconds: number;
    /** History length past which a run continues as new between top-level steps. @default 10000 */
    readonly continueAsNewAfterEvents: number;
  };
  /** How often a worker reconciles the mirror with Temporal, and brings the report rollups up to date (db/reports.ts). */
  readonly mirror: { readonly reconcileIntervalMs: number; readonly reportsRefreshIntervalMs: number };
  /** What `npm run clean-logs` keeps: finished runs' rows for `days`, audit entries and finished batches for `auditDays`. */
  readonly retention: { readonly days: number; readonly auditDays: number };
  readonly sentryDsn: string | undefined;
  /**
   * Payload encryption, when ENCRYPTION_KEYS is set: every key by id (base64
   * of 32 bytes) and the one new payloads are sealed with (ENCRYPTION_KEY_ID,
   * or the only key). Off by default.
   */
  readonly encryption: { readonly keys: Readonly<Record<string, string>>; readonly currentKeyId: string } | undefined;
  /** The values of the {@link SECRET_VARIABLES} and `HTTP_SECRET_*` variables that are set: never to leave the process (e.g. in error reports). */
  readonly secretValues: readonly string[];
  readonly logLevel: Parsed['LOG_LEVEL'];
  /** `GET /metrics`: open, or only with an API key (any role). @default open */
  readonly metrics: { readonly requireKey: boolean };
  /**
   * Where the worker serves the Temporal SDK's metrics for Prometheus
   * (`host:port`, scraped at `/metrics`). @default off
   */
  readonly workerMetricsAddress: string | undefined;
  readonly rateLimit: { readonly enabled: boolean; readonly perMinute: number };
  /**
   * Signed webhook deliveries (`POST /api/hooks/<key>`); undefined without
   * WEBHOOK_SIGNATURE_SECRET, which turns the route off (503).
   */
  readonly webhooks:
    | {
        /** Which signatures are taken (WEBHOOK_SIGNATURE_SCHEME). @default 'standard' */
        readonly scheme: WebhookSignatureScheme;
        /** Every secret accepted, as written (several while one is rotated). */
        readonly secrets: readonly string[];
      }
    | undefined;
  /** Bearer tokens from an OpenID Connect provider, accepted beside API keys; off unless OIDC_JWKS_URL is set. */
  readonly oidc: OidcConfig | undefined;
  readonly corsOrigins: readonly string[];
  /** What `http` steps may reach beyond the public internet, and the secrets their headers may use. */
  readonly outbound: {
    /** Host names, addresses or CIDR networks allowed although not public. */
    readonly allowedHosts: readonly string[];
    /** `HTTP_SECRET_<NAME>` values by `<NAME>`. */
    readonly secrets: Readonly<Record<string, string>>;
  };
}

/** Raised when the environment does not describe a runnable configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment into a frozen {@link Config}. Throws {@link ConfigError}
 * with one line per bad or missing variable; the value itself is never echoed,
 * since it may be a secret.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const message = issue.code === 'invalid_type' && env[name] === undefined ? 'is required' : issue.message;
      return `${name} ${message}`;
    });
    throw new ConfigError(problems);
  }
  const e = result.data;
  const expressionEnv = exposedVariables(list(e.EXPRESSION_ENV), env);
  if (expressionEnv.problems.length > 0) throw new ConfigError(expressionEnv.problems);
  const oidc = oidcConfig(e);
  if (oidc instanceof ConfigError) throw oidc;
  const encryption = encryptionConfig(e);
  if (encryption instanceof ConfigError) throw encryption;
  const webhooks = webhookConfig(e);
  if (webhooks instanceof ConfigError) throw webhooks;
  return deepFreeze({
    env: e.NODE_ENV,
    http: { host: e.HOST, port: e.PORT, publicUrl: e.PUBLIC_URL, trustProxy: e.TRUST_PROXY ?? false },
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      listenUrl: e.DATABASE_LISTEN_URL === 'off' ? undefined : (e.DATABASE_LISTEN_URL ?? e.DATABASE_URL),
    },
    redis: { url: e.REDIS_URL, password: e.REDIS_PASSWORD, rateLimitPrefix: e.RATE_LIMIT_REDIS_PREFIX },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL,
    },
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      secure: e.SMTP_SECURE,
      user: e.SMTP_USER,
      pass: e.SMTP_PASS,
      from: e.SMTP_FROM,
      maxAttachmentBytes: e.EMAIL_MAX_ATTACHMENT_BYTES,
      maxTotalAttachmentBytes: e.EMAIL_MAX_TOTAL_ATTACHMENT_BYTES,
    },
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID,
      authToken: e.TWILIO_AUTH_TOKEN,
      phoneNumber: e.TWILIO_PHONE_NUMBER,
      messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID,
      apiUrl: e.TWILIO_API_URL,
    },
    slack: { botToken: e.SLACK_BOT_TOKEN, webhookUrl: e.SLACK_WEBHOOK_URL, apiUrl: e.SLACK_API_URL },
    teams: { webhookUrl: e.TEAMS_WEBHOOK_URL },
    devOutbox: e.DEV_OUTBOX ?? e.NODE_ENV === 'development',
    expressionEnv: expressionEnv.values,
    pacing: {
      email: e.PACING_EMAIL_PER_MINUTE,
      sms: e.PACING_SMS_PER_MINUTE,
      slack: e.PACING_SLACK_PER_MINUTE,
      teams: e.PACING_TEAMS_PER_MINUTE,
    },
    data: { url: e.DATA_DATABASE_URL ?? e.DATABASE_URL, tables: list(e.DATA_TABLES) },
    workflow: {
      maxConcurrentExecutions: e.WORKFLOW_MAX_CONCURRENT_EXECUTIONS,
      defaultTimeoutSeconds: e.WORKFLOW_DEFAULT_TIMEOUT,
      heartbeatTimeoutSeconds: e.WORKFLOW_HEARTBEAT_TIMEOUT,
      databaseWaitLimitSeconds: e.WORKFLOW_DATABASE_WAIT_LIMIT,
      queueConcurrency: e.WORKFLOW_QUEUE_CONCURRENCY,
      enableCaching: e.WORKFLOW_ENABLE_CACHING,
      cacheTtlSeconds: e.WORKFLOW_CACHE_TTL,
      continueAsNewAfterEvents: e.WORKFLOW_CONTINUE_AS_NEW_EVENTS,
    },
    mirror: { reconcileIntervalMs: e.MIRROR_RECONCILE_INTERVAL_MS, reportsRefreshIntervalMs: e.REPORTS_REFRESH_INTERVAL_MS },
    retention: { days: e.RETENTION_DAYS, auditDays: e.RETENTION_AUDIT_DAYS },
    sentryDsn: e.SENTRY_DSN,
    encryption,
    secretValues: [
      ...SECRET_VARIABLES.map((name) => env[name]),
      // Each webhook secret on its own, and a standard one's base64 without its prefix.
      ...(webhooks?.secrets ?? []).flatMap((secret) => [secret, secret.replace(/^whsec_/, '')]),
      ...Object.entries(env)
        .filter(([name]) => name.startsWith('HTTP_SECRET_'))
        .map(([, value]) => value),
    ].filter((value): value is string => value !== undefined && value.trim() !== ''),
    logLevel: e.LOG_LEVEL,
    metrics: { requireKey: e.METRICS_REQUIRE_KEY },
    workerMetricsAddress: e.WORKER_METRICS_ADDRESS,
    rateLimit: { enabled: e.ENABLE_RATE_LIMITING, perMinute: e.RATE_LIMIT_PER_MINUTE },
    webhooks,
    oidc,
    corsOrigins: list(e.CORS_ORIGINS),
    outbound: {
      allowedHosts: list(e.HTTP_ALLOWED_HOSTS),
      secrets: Object.fromEntries(
        Object.entries(env)
          .filter((entry): entry is [string, string] => /^HTTP_SECRET_[A-Z0-9_]+$/.test(entry[0]) && Boolean(entry[1]))
          .map(([name, value]) => [name.slice('HTTP_SECRET_'.length), value]),
      ),
    },
  });
}

/**
 * How the gateway checks OIDC bearer tokens (JWTs): whose keys sign them, who
 * issues them, for which audience, and which of their claim values grant
 * which role.
 */
export interface OidcConfig {
  /** The provider's JSON Web Key Set (OIDC_JWKS_URL), fetched by the gateway and cached. */
  readonly jwksUrl: string;
  /** The `iss` every token must carry (OIDC_ISSUER), compared exactly. */
  readonly issuer: string;
  /** Accepted `aud` values (OIDC_AUDIENCE, comma-separated): a token must name one of them. */
  readonly audiences: readonly string[];
  /**
   * The claim holding the caller's roles or groups (OIDC_ROLES_CLAIM): a
   * top-level name, else a dotted path into nested claims. @default 'roles'
   */
  readonly rolesClaim: string;
  /** Our role for each claim value that grants one (OIDC_ROLE_MAP). */
  readonly roleMap: Readonly<Record<string, ApiKeyRole>>;
  /**
   * Least seconds between two fetches of the key set prompted by a token
   * signed with a key not in it (a rotation). @default 30
   */
  readonly jwksCooldownSeconds: number;
  /**
   * The console's sign-in through the provider, when set: the browser is sent
   * to `authorizationUrl` (authorization code with PKCE) and trades the code
   * for an access token at `tokenUrl`, as the public client `clientId`.
   */
  readonly console?: { readonly clientId: string; readonly authorizationUrl: string; readonly tokenUrl: string; readonly scope: string } | undefined;
}

/**
 * WEBHOOK_SIGNATURE_SECRET and WEBHOOK_SIGNATURE_SCHEME, checked: under
 * `standard` every secret is `whsec_<base64>`; under `both` at least one is
 * (the others serve legacy senders only) and none is a broken `whsec_`.
 */
function webhookConfig(e: Parsed): Config['webhooks'] | ConfigError {
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
    return new ConfigError(problems);
  }
  if (!standard.includes(true)) {
    return new ConfigError([
      'WEBHOOK_SIGNATURE_SECRET has no whsec_ secret, which WEBHOOK_SIGNATURE_SCHEME=both needs for standard signatures: add one, or set legacy',
    ]);
  }
  return { scheme, secrets };
}

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** ENCRYPTION_KEYS and ENCRYPTION_KEY_ID, checked: ids, 32-byte keys, a current key that is one of them. */
function encryptionConfig(e: Parsed): Config['encryption'] | ConfigError {
  if (e.ENCRYPTION_KEYS === undefined) {
    return e.ENCRYPTION_KEY_ID === undefined ? undefined : new ConfigError(['ENCRYPTION_KEY_ID is set, but ENCRYPTION_KEYS is not: set the keys too']);
  }
  const problems: string[] = [];
  const keys: Record<string, string> = {};
  for (const entry of list(e.ENCRYPTION_KEYS)) {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at).trim();
    const value = at < 0 ? '' : entry.slice(at + 1).trim();
    if (!KEY_ID_PATTERN.test(id) || !value) {
      problems.push('ENCRYPTION_KEYS takes <id>:<base64 key> pairs separated by commas, ids of letters, digits, dots, dashes and underscores');
      continue;
    }
    const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64').length : 0;
    if (bytes !== 32) {
      problems.push(`ENCRYPTION_KEYS: key "${id}" is ${bytes ? `${bytes} bytes` : 'not base64'}; AES-256 needs 32 bytes (make one with: openssl rand -base64 32)`);
      continue;
    }
    if (keys[id] !== undefined) problems.push(`ENCRYPTION_KEYS: key id "${id}" appears twice`);
    keys[id] = value;
  }
  const ids = Object.keys(keys);
  const currentKeyId = e.ENCRYPTION_KEY_ID?.trim() ?? (ids.length === 1 ? ids[0] : undefined);
  if (problems.length === 0 && currentKeyId === undefined) problems.push(`ENCRYPTION_KEY_ID is required when ENCRYPTION_KEYS holds several keys: name the one new payloads use (${ids.join(', ')})`);
  else if (problems.length === 0 && keys[currentKeyId!] === undefined) problems.push(`ENCRYPTION_KEY_ID is "${currentKeyId}", which is not a key of ENCRYPTION_KEYS (${ids.join(', ')})`);
  return problems.length ? new ConfigError(problems) : { keys, currentKeyId: currentKeyId! };
}

/** The roles OIDC_ROLE_MAP may name, as the gateway orders them (see gateway/auth.ts). */
const OIDC_ROLE_NAMES = ['viewer', 'operator', 'admin'] as const satisfies readonly ApiKeyRole[];

/** The variables that switch OIDC on, all needed together. */
const OIDC_REQUIRED = ['OIDC_JWKS_URL', 'OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_ROLE_MAP'] as const;

function oidcConfig(e: Parsed): OidcConfig | undefined | ConfigError {
  const missing = OIDC_REQUIRED.filter((name) => e[name] === undefined);
  if (missing.length === OIDC_REQUIRED.length) {
    const stray = (['OIDC_ROLES_CLAIM', 'OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL', 'OIDC_CONSOLE_SCOPE'] as const).filter((n) => e[n] !== undefined);
    return stray.length === 0 ? undefined : new ConfigError(stray.map((name) => `${name} is set, but OIDC is not: set ${OIDC_REQUIRED.join(', ')} too`));
  }
  if (missing.length > 0) {
    const set = OIDC_REQUIRED.filter((name) => e[name] !== undefined).join(', ');
    return new ConfigError(missing.map((name) => `${name} is required when ${set} ${set.includes(',') ? 'are' : 'is'} set: OIDC needs ${OIDC_REQUIRED.join(', ')}`));
  }
  const roleMap = parseRoleMap(e.OIDC_ROLE_MAP as string);
  if (roleMap instanceof Error) return new ConfigError([`OIDC_ROLE_MAP ${roleMap.message}`]);
  const consoleVars = ['OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL'] as const;
  const consoleMissing = consoleVars.filter((name) => e[name] === undefined);
  if (consoleMissing.length > 0 && consoleMissing.length < consoleVars.length) {
    return new ConfigError(consoleMissing.map((name) => `${name} is required for the console's sign-in through OIDC: set ${consoleVars.join(', ')} together`));
  }
  return {
    ...(consoleMissing.length === 0
      ? {
          console: {
            clientId: (e.OIDC_CONSOLE_CLIENT_ID as string).trim(),
            authorizationUrl: e.OIDC_AUTHORIZATION_URL as string,
            tokenUrl: e.OIDC_TOKEN_URL as string,
            scope: e.OIDC_CONSOLE_SCOPE?.trim() || 'openid profile',
          },
        }
      : {}),
    jwksUrl: e.OIDC_JWKS_URL as string,
    issuer: (e.OIDC_ISSUER as string).trim(),
    audiences: list(e.OIDC_AUDIENCE),
    rolesClaim: e.OIDC_ROLES_CLAIM?.trim() ?? 'roles',
    roleMap,
    jwksCooldownSeconds: e.OIDC_JWKS_COOLDOWN_SECONDS,
  };
}

/**
 * Parses OIDC_ROLE_MAP: comma-separated `<claim value>:<role>` pairs, e.g.
 * `wf-admins:admin,wf-ops:operator`. The role follows the last colon, so claim
 * values may contain colons (`urn:group:admins:admin`). An Error says what is
 * wrong.
 */
export function parseRoleMap(value: string): Record<string, ApiKeyRole> | Error {
  const map: Record<string, ApiKeyRole> = Object.create(null) as Record<string, ApiKeyRole>;
  const entries = list(value);
  if (entries.length === 0) return new Error('must list at least one <claim value>:<role> pair');
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    const claimValue = entry.slice(0, Math.max(colon, 0)).trim();
    const role = entry.slice(colon + 1).trim();
    if (colon < 0 || claimValue === '') {
      return new Error(`has "${entry}", which is not <claim value>:<role> (e.g. wf-admins:admin)`);
    }
    if (!(OIDC_ROLE_NAMES as readonly string[]).includes(role)) {
      return new Error(`maps "${claimValue}" to "${role}", which is not a role: use ${OIDC_ROLE_NAMES.join(', ')}`);
    }
    if (Object.hasOwn(map, claimValue) && map[claimValue] !== role) {
      return new Error(`maps "${claimValue}" twice, to ${map[claimValue]} and to ${role}`);
    }
    map[claimValue] = role as ApiKeyRole;
  }
  return map;
}

/** A claim name, or dot-separated names with none empty. */
function isClaimPath(value: string): boolean {
  return value.trim().split('.').every((part) => part !== '' && !/\s/.test(part));
}

/**
 * Keys fetched in clear text could be swapped on the way, and with them every
 * token accepted: plain http is allowed to the gateway's own host only.
 */
function isSafeJwksUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

/** Names that look like credentials: never exposed to expressions, whose values land in run history. */
const SECRET_LOOKING = /PASS|SECRET|TOKEN|AUTH|CREDENTIAL|PRIVATE|DSN|(^|_)KEY($|_)/;

/** Longest value an exposed variable may have. */
const MAX_EXPOSED_VALUE = 4_096;

/** The variables EXPRESSION_ENV lists, checked: set, plain names, and not secrets. */
function exposedVariables(names: string[], env: Record<string, string | undefined>): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) problems.push(`EXPRESSION_ENV lists "${name}", which is not a variable name (A-Z, 0-9, _)`);
    else if ((SECRET_VARIABLES as readonly string[]).includes(name) || name.startsWith('HTTP_SECRET_') || name === 'REDIS_URL' || SECRET_LOOKING.test(name)) {
      problems.push(`EXPRESSION_ENV lists ${name}, which is or looks like a secret: values exposed to expressions are stored in run history`);
    } else if (value === undefined) problems.push(`EXPRESSION_ENV lists ${name}, which is not set`);
    else if (value.length > MAX_EXPOSED_VALUE) problems.push(`EXPRESSION_ENV lists ${name}, whose value is longer than ${MAX_EXPOSED_VALUE} characters`);
    else values[name] = value;
  }
  return { values, problems };
}

/**
 * Loads the configuration for a process entry point: on failure prints one
 * line per problem and exits, instead of a stack trace.
 */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example for every variable and its meaning.\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Hides the password of a connection URL, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/**
 * What Express's `trust proxy` accepts, as `TRUST_PROXY` spells it: `false`
 * (the default: the peer is the client), `true` (the left-most
 * `X-Forwarded-For` address, which anyone can forge), a number of proxy hops,
 * or addresses, CIDR networks and Express's names `loopback`, `linklocal`,
 * `uniquelocal` of the proxies to trust.
 */
export type TrustProxy = boolean | number | readonly string[];

const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** Parses `TRUST_PROXY`; an Error says what is wrong with it. */
export function parseTrustProxy(value: string | undefined): TrustProxy | Error {
  const text = value?.trim().toLowerCase();
  if (text === undefined || text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops <= 100 ? hops : new Error('must be at most 100 proxy hops');
  }
  const entries = list(text);
  const bad = entries.filter((entry) => !TRUST_PROXY_NAMES.includes(entry) && !isAddressOrNetwork(entry));
  if (bad.length > 0) {
    return new Error(
      `has ${bad.map((b) => JSON.stringify(b)).join(', ')}, which is not an IP address, a CIDR network or one of ${TRUST_PROXY_NAMES.join(', ')}: ` +
        'use true, false, a number of proxy hops, or a comma-separated list of those',
    );
  }
  return entries;
}

function isAddressOrNetwork(entry: string): boolean {
  return ipaddr.isValid(entry) || ipaddr.isValidCIDR(entry);
}

/** `host:port` or `[v6 address]:port`, with a port from 1 to 65535. */
function isBindAddress(value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match) return false;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
