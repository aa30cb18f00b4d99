/**
 * The one place that reads `process.env`. Everything else receives the frozen
 * {@link Config} object this module returns.
 *
 * Each setting is declared once, in `settings` below: the variable it reads,
 * the zod schema of its text (default, bounds, error message) and its doc
 * comment. The parsing and the `Config` type both follow from that tree; each
 * variable's meaning for operators is in .env.example and docs/DEPLOYMENT.md,
 * which test/unit/config.test.ts keeps in step with it.
 */
import { existsSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { CHANNEL_TYPES, type ChannelType } from '../channels';
import { standardSecretKey, WEBHOOK_SIGNATURE_SCHEMES, type WebhookSignatureScheme } from './gateway/webhook-signature';
import { isRole, ROLES, type Role } from './shared/roles';
import { temporalConnectionSecurity, temporalConnectionVariables, type TemporalConnectionSecurity } from './temporal/connection-options';

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * One setting: the variables it reads, each with the zod schema of its text,
 * and how their values become the setting's. `value` runs once every variable
 * has passed its schema, and throws {@link ConfigError} when variables valid
 * on their own do not fit together.
 */
class Setting<T> {
  constructor(
    readonly variables: z.ZodRawShape,
    readonly value: (env: Environment) => T,
  ) {}
}

/** The setting of one variable, its parsed value passed through `finish` when given (which may read other settings). */
function from<S extends z.ZodType>(name: string, schema: S): Setting<z.output<S>>;
function from<S extends z.ZodType, T>(name: string, schema: S, finish: (value: z.output<S>, env: Environment) => T): Setting<T>;
function from(name: string, schema: z.ZodType, finish: (value: unknown, env: Environment) => unknown = (value) => value): Setting<unknown> {
  return new Setting({ [name]: schema }, (env) => finish(schema.parse(env[name]), env));
}

/** The setting of several variables that must fit together. */
function fromVariables<S extends z.ZodObject, T>(schema: S, combine: (values: z.output<S>) => T): Setting<T> {
  return new Setting(schema.shape, (env) => combine(schema.parse(env)));
}

interface Settings {
  readonly [key: string]: Setting<unknown> | Settings;
}

/** What a tree of settings reads as: each setting replaced by its value. */
type Values<T> = { readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : Values<T[K]> };

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

const optionalHttpUrl = optionalUrl(['http:', 'https:']);

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/** A worker deployment's name: Temporal joins it to a build id with "." in versions' names, so neither "." nor "/". */
const DEPLOYMENT_NAME = /^[A-Za-z0-9_-]{1,100}$/;
/** A build id: Temporal reserves the "__" prefix (`__unversioned__`). */
const BUILD_ID = /^(?!__)[A-Za-z0-9._+-]{1,100}$/;

/** A table name as `DATA_TABLES` lists it: `table` or `schema.table`, plain identifiers. */
const TABLE_NAME = /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Settings that others default to. */
/** How the connection to Temporal is secured: an envconfig profile under the TEMPORAL_* variables, checked. */
const temporalSecurity = new Setting(temporalConnectionVariables.shape, (env): TemporalConnectionSecurity => {
  const security = temporalConnectionSecurity(env);
  if (security instanceof Error) throw new ConfigError([security.message]);
  return security;
});
const nodeEnv = from('NODE_ENV', z.enum(['development', 'production', 'test']).default('development'));
const databaseUrl = from(
  'DATABASE_URL',
  z.string({ error: 'is required (postgres://user:password@host:5432/database)' }).refine((v) => POSTGRES_URL.test(v), 'must start with postgres:// or postgresql://'),
);

/** Signed webhook deliveries (`POST /api/hooks/<key>`). */
export interface WebhookConfig {
  /** Which signatures are taken (WEBHOOK_SIGNATURE_SCHEME). @default 'standard' */
  readonly scheme: WebhookSignatureScheme;
  /** Every secret accepted, as written (several while one is rotated). */
  readonly secrets: readonly string[];
}

/** The variables of signed webhook deliveries, checked together by webhookConfig. */
const webhookVariables = z.object({
  /** Comma-separated; `whsec_<base64>` for the standard scheme (src/gateway/webhook-signature.ts). */
  WEBHOOK_SIGNATURE_SECRET: optionalString,
  WEBHOOK_SIGNATURE_SCHEME: z
    .enum(WEBHOOK_SIGNATURE_SCHEMES, { error: `must be one of ${WEBHOOK_SIGNATURE_SCHEMES.join(', ')}` })
    .default('standard'),
});
const webhooks = fromVariables(webhookVariables, webhookConfig);

/** The variables of OIDC bearer tokens and of the console's sign-in, checked together by oidcConfig. */
const oidcVariables = z.object({
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
  /** The console's sign-in through the provider (authorization code with PKCE, a public client). */
  OIDC_CONSOLE_CLIENT_ID: optionalString,
  OIDC_AUTHORIZATION_URL: optionalHttpUrl,
  OIDC_TOKEN_URL: optionalHttpUrl,
  OIDC_CONSOLE_SCOPE: optionalString,
});

/** Payload encryption (src/temporal/encryption.ts), checked together by keyRingConfig. */
const encryptionVariables = z.object({
  /** `<id>:<base64 of 32 bytes>`, comma-separated. */
  ENCRYPTION_KEYS: optionalString,
  ENCRYPTION_KEY_ID: optionalString,
});

/** The master keys of connections' secrets (src/connections/envelope.ts), checked together by keyRingConfig. */
const connectionKeyVariables = z.object({
  /** `<id>:<base64 of 32 bytes>`, comma-separated. */
  CONNECTION_KEYS: optionalString,
  CONNECTION_KEY_ID: optionalString,
});

/** One setting per notification channel (channels/index.ts), by its type. */
function channelSettings<T>(setting: (type: ChannelType) => Setting<T>): { readonly [K in ChannelType]: Setting<T> } {
  return Object.fromEntries(CHANNEL_TYPES.map((type) => [type, setting(type)])) as { [K in ChannelType]: Setting<T> };
}

/**
 * Every setting, in the shape of {@link Config}. Checks that involve several
 * variables throw in this order: EXPRESSION_ENV, OIDC, encryption, webhooks.
 */
const settings = {
  env: nodeEnv,
  http: {
    host: from('HOST', z.string().default('127.0.0.1')),
    port: from('PORT', int(3000, 0, 65535)),
    publicUrl: from('PUBLIC_URL', optionalHttpUrl),
    /**
     * Express's `trust proxy`: which hops' `X-Forwarded-For` to believe for the
     * client address (rate limits per address, logs). @default false
     */
    trustProxy: from(
      'TRUST_PROXY',
      optionalString.transform((v, ctx) => {
        const parsed = parseTrustProxy(v);
        if (parsed instanceof Error) {
          ctx.addIssue({ code: 'custom', message: parsed.message });
          return z.NEVER;
        }
        return parsed;
      }),
    ),
  },
  database: {
    url: databaseUrl,
    poolMax: from('DATABASE_POOL_MAX', int(10, 1, 500)),
    /**
     * Where the gateway listens for changed keys and definitions (a direct
     * connection: LISTEN does not pass a pooler in transaction mode); undefined
     * when `off`, which makes every lookup read the database. @default DATABASE_URL
     */
    listenUrl: from(
      'DATABASE_LISTEN_URL',
      optionalString.refine((v) => v === undefined || v === 'off' || POSTGRES_URL.test(v), 'must be off, or start with postgres:// or postgresql://'),
      (url, env) => (url === 'off' ? undefined : (url ?? databaseUrl.value(env))),
    ),
  },
  redis: {
    url: from('REDIS_URL', optionalUrl(['redis:', 'rediss:'])),
    password: from('REDIS_PASSWORD', optionalString),
    /** Prefix of the rate limiter's keys in Redis. @default 'wfa:ratelimit:' */
    rateLimitPrefix: from('RATE_LIMIT_REDIS_PREFIX', z.string().min(1, 'must not be empty').max(100).default('wfa:ratelimit:')),
  },
  temporal: {
    /** The frontend's `host:port`; else the profile's (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE). @default 'localhost:7233' */
    address: from('TEMPORAL_ADDRESS', z.string().optional(), (address, env) => address ?? temporalSecurity.value(env).profileAddress ?? 'localhost:7233'),
    /** Else the profile's. @default 'default' */
    namespace: from('TEMPORAL_NAMESPACE', z.string().min(1).optional(), (namespace, env) => namespace ?? temporalSecurity.value(env).profileNamespace ?? 'default'),
    /** TLS, mTLS or an API key to the frontend (src/temporal/connection-options.ts); plain by default. */
    security: temporalSecurity,
    taskQueue: from('TEMPORAL_TASK_QUEUE', z.string().min(1).default('workflow-automation')),
    uiUrl: from('TEMPORAL_UI_URL', z.url().default('http://localhost:8233')),
  },
  smtp: {
    host: from('SMTP_HOST', optionalString),
    port: from('SMTP_PORT', int(587, 1, 65535)),
    secure: from('SMTP_SECURE', bool(false)),
    user: from('SMTP_USER', optionalString),
    pass: from('SMTP_PASS', optionalString),
    from: from('SMTP_FROM', optionalString),
    /** Largest attachment of an email step, in bytes. @default 10 MiB */
    maxAttachmentBytes: from('EMAIL_MAX_ATTACHMENT_BYTES', int(10 * 1024 * 1024, 1)),
    /** Largest sum of an email step's attachments, in bytes. @default 25 MiB */
    maxTotalAttachmentBytes: from('EMAIL_MAX_TOTAL_ATTACHMENT_BYTES', int(25 * 1024 * 1024, 1)),
  },
  twilio: {
    accountSid: from('TWILIO_ACCOUNT_SID', optionalString),
    authToken: from('TWILIO_AUTH_TOKEN', optionalString),
    phoneNumber: from('TWILIO_PHONE_NUMBER', optionalString),
    messagingServiceSid: from('TWILIO_MESSAGING_SERVICE_SID', optionalString),
    /** Base URL replacing Twilio's API hosts (a proxy; a loopback stand-in in tests). */
    apiUrl: from('TWILIO_API_URL', optionalHttpUrl),
  },
  slack: {
    botToken: from('SLACK_BOT_TOKEN', optionalString),
    webhookUrl: from('SLACK_WEBHOOK_URL', optionalHttpUrl),
    apiUrl: from('SLACK_API_URL', optionalHttpUrl),
  },
  teams: { webhookUrl: from('TEAMS_WEBHOOK_URL', optionalHttpUrl) },
  pagerduty: {
    /** The integration key of the PagerDuty service events go to (Events API v2). */
    routingKey: from('PAGERDUTY_ROUTING_KEY', optionalString),
    /** Where events are sent (a proxy; a loopback stand-in in tests). @default 'https://events.pagerduty.com/v2/enqueue' */
    eventsUrl: from('PAGERDUTY_EVENTS_URL', optionalHttpUrl, (url) => url ?? 'https://events.pagerduty.com/v2/enqueue'),
  },
  /**
   * A notification step (email, sms, slack, teams, …) whose channel has no
   * credentials records its message in the `dev_outbox` table, not delivered,
   * instead of failing. Off in test runs so they state what they rely on, and
   * off in production, where a missing variable must fail the run.
   * @default true when NODE_ENV is development, false otherwise
   */
  devOutbox: from('DEV_OUTBOX', optionalBool, (on, env) => on ?? nodeEnv.value(env) === 'development'),
  /** Variables exposed to expressions as `env.<NAME>` (EXPRESSION_ENV): captured when a run starts, so not secrets. */
  expressionEnv: from('EXPRESSION_ENV', optionalString, (names, env) => exposedVariables(list(names), env)),
  /** Sends per minute allowed on each channel (PACING_<CHANNEL>_PER_MINUTE), across all runs; 0 leaves a channel unpaced. */
  pacing: channelSettings((type) => from(`PACING_${type.toUpperCase()}_PER_MINUTE`, int(0, 0, 100_000))),
  /** Where `db_insert` and `db_update` steps write, and the only tables they may touch. */
  data: {
    /** @default DATABASE_URL */
    url: from(
      'DATA_DATABASE_URL',
      optionalString.refine((v) => v === undefined || POSTGRES_URL.test(v), 'must start with postgres:// or postgresql://'),
      (url, env) => url ?? databaseUrl.value(env),
    ),
    /** Allowed tables as listed, `table` or `schema.table`; none by default, which turns the steps off. */
    tables: from(
      'DATA_TABLES',
      optionalString.refine((v) => list(v).every((name) => TABLE_NAME.test(name)), {
        message: 'must be a comma-separated list of table or schema.table names (letters, digits, _ and $)',
      }),
      list,
    ),
  },
  workflow: {
    /** Concurrent workflow tasks per worker. @default 20 */
    maxConcurrentExecutions: from('WORKFLOW_MAX_CONCURRENT_EXECUTIONS', int(20, 1, 10_000)),
    /** Default start-to-close timeout of a step's activity, in seconds. @default 300 */
    defaultTimeoutSeconds: from('WORKFLOW_DEFAULT_TIMEOUT', int(300, 1, 86_400)),
    /** Seconds a step's activity may go without a heartbeat before it is retried elsewhere (a dead worker). @default 10 */
    heartbeatTimeoutSeconds: from('WORKFLOW_HEARTBEAT_TIMEOUT', int(10, 2, 3_600)),
    /**
     * Seconds a step waits, in all, for the product's own Postgres to answer
     * again (the delivery ledger, pacing) before it fails with
     * `DatabaseUnavailable`; the wait spends none of the step's retries. @default 86400
     */
    databaseWaitLimitSeconds: from('WORKFLOW_DATABASE_WAIT_LIMIT', int(86_400, 10, 2_592_000)),
    /** Concurrent activities (deliveries, data updates) per worker. @default 10 */
    queueConcurrency: from('WORKFLOW_QUEUE_CONCURRENCY', int(10, 1, 10_000)),
    /** Keep workflows cached on the worker between tasks (sticky execution). @default true */
    enableCaching: from('WORKFLOW_ENABLE_CACHING', bool(true)),
    /** Seconds a definition version stays in the gateway's cache. @default 3600 */
    cacheTtlSeconds: from('WORKFLOW_CACHE_TTL', int(3600, 0)),
    /** History length past which a run continues as new between top-level steps. @default 10000 */
    continueAsNewAfterEvents: from('WORKFLOW_CONTINUE_AS_NEW_EVENTS', int(10_000, 50, 50_000)),
    /**
     * A workflow bundle built ahead of time from the same release
     * (`npm run build:workflows`), which the worker loads instead of bundling
     * the workflow code as it starts (seconds of CPU per start). @default bundled at start
     */
    bundlePath: from(
      'WORKFLOW_BUNDLE_PATH',
      optionalString.refine((v) => v === undefined || existsSync(v), { message: 'must be the path of a file built by npm run build:workflows' }),
    ),
  },
  /**
   * Worker Versioning (src/worker/versioning.ts): the worker runs as the
   * version `name`/`buildId` of a Temporal worker deployment when `name` is
   * set; unversioned otherwise. The gateway and the CLI read the same name for
   * `GET /api/deployments` and `npm run cli -- deploy`.
   */
  deployment: {
    /** The worker deployment's name (WORKER_DEPLOYMENT_NAME). @default unset: workers run unversioned */
    name: from(
      'WORKER_DEPLOYMENT_NAME',
      optionalString.refine((v) => v === undefined || DEPLOYMENT_NAME.test(v), {
        message: 'must be 1 to 100 letters, digits, "-" and "_" (no "." or "/")',
      }),
    ),
    /** This release's build id (WORKER_BUILD_ID). @default the package version and git commit (src/worker/versioning.ts) */
    buildId: from(
      'WORKER_BUILD_ID',
      optionalString.refine((v) => v === undefined || BUILD_ID.test(v), {
        message: 'must be 1 to 100 letters, digits, ".", "-", "_" and "+", not starting with "__"',
      }),
    ),
  },
  /** How often a worker reconciles the mirror with Temporal, and brings the report rollups up to date (db/reports.ts). */
  mirror: {
    reconcileIntervalMs: from('MIRROR_RECONCILE_INTERVAL_MS', int(5000, 100, 3_600_000)),
    reportsRefreshIntervalMs: from('REPORTS_REFRESH_INTERVAL_MS', int(60_000, 1000, 86_400_000)),
  },
  /** What `npm run clean-logs` keeps: finished runs' rows for `days`, audit entries and finished batches for `auditDays`. */
  retention: {
    days: from('RETENTION_DAYS', int(90, 1, 36_500)),
    auditDays: from('RETENTION_AUDIT_DAYS', int(365, 1, 36_500)),
  },
  sentryDsn: from('SENTRY_DSN', optionalHttpUrl),
  logLevel: from('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  /** `GET /metrics`: open, or only with an API key (any role). @default open */
  metrics: { requireKey: from('METRICS_REQUIRE_KEY', bool(false)) },
  /**
   * Where the worker serves the Temporal SDK's metrics for Prometheus
   * (`host:port`, scraped at `/metrics`). @default off
   */
  workerMetricsAddress: from(
    'WORKER_METRICS_ADDRESS',
    optionalString.refine((v) => v === undefined || isBindAddress(v), {
      message: 'must be host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464 ([::1]:9464 for IPv6)',
    }),
  ),
  rateLimit: {
    enabled: from('ENABLE_RATE_LIMITING', bool(true)),
    perMinute: from('RATE_LIMIT_PER_MINUTE', int(120, 1, 1_000_000)),
  },
  corsOrigins: from('CORS_ORIGINS', optionalString, list),
  /** What `http` steps may reach beyond the public internet, and the secrets their headers may use. */
  outbound: {
    /** Host names, addresses or CIDR networks allowed although not public. */
    allowedHosts: from('HTTP_ALLOWED_HOSTS', optionalString, list),
    /** `HTTP_SECRET_<NAME>` values by `<NAME>`. */
    secrets: new Setting({}, (env): Readonly<Record<string, string>> =>
      Object.fromEntries(
        Object.entries(env)
          .filter((entry): entry is [string, string] => /^HTTP_SECRET_[A-Z0-9_]+$/.test(entry[0]) && Boolean(entry[1]))
          .map(([name, value]) => [name.slice('HTTP_SECRET_'.length), value]),
      ),
    ),
  },
  /** Bearer tokens from an OpenID Connect provider, accepted beside API keys; off unless OIDC_JWKS_URL is set. */
  oidc: fromVariables(oidcVariables, oidcConfig),
  /**
   * Payload encryption, when ENCRYPTION_KEYS is set: every key by id (base64
   * of 32 bytes) and the one new payloads are sealed with (ENCRYPTION_KEY_ID,
   * or the only key). Off by default.
   */
  encryption: fromVariables(encryptionVariables, (e) => keyRingConfig('ENCRYPTION_KEYS', e.ENCRYPTION_KEYS, 'ENCRYPTION_KEY_ID', e.ENCRYPTION_KEY_ID, 'new payloads use')),
  /**
   * The master keys that wrap connections' data keys, when CONNECTION_KEYS is
   * set: every key by id (base64 of 32 bytes) and the one new and updated
   * connections are sealed with (CONNECTION_KEY_ID, or the only key). Without
   * them connections cannot be created or opened; steps use the channels'
   * variables above.
   */
  connectionKeys: fromVariables(connectionKeyVariables, (e) =>
    keyRingConfig('CONNECTION_KEYS', e.CONNECTION_KEYS, 'CONNECTION_KEY_ID', e.CONNECTION_KEY_ID, 'new connections are sealed with'),
  ),
  /**
   * Signed webhook deliveries (`POST /api/hooks/<key>`); undefined without
   * WEBHOOK_SIGNATURE_SECRET, which turns the route off (503).
   */
  webhooks,
  /** The values of the {@link SECRET_VARIABLES} and `HTTP_SECRET_*` variables that are set: never to leave the process (e.g. in error reports). */
  secretValues: new Setting({}, (env): readonly string[] =>
    [
      ...SECRET_VARIABLES.map((name) => env[name]),
      // Each webhook secret on its own, and a standard one's base64 without its prefix.
      ...(webhooks.value(env)?.secrets ?? []).flatMap((secret) => [secret, secret.replace(/^whsec_/, '')]),
      ...Object.entries(env)
        .filter(([name]) => name.startsWith('HTTP_SECRET_'))
        .map(([, value]) => value),
      // An API key or client key that came from a profile file.
      temporalSecurity.value(env).apiKey,
      temporalSecurity.value(env).tls?.client?.key,
    ].filter((value): value is string => value !== undefined && value.trim() !== ''),
  ),
} satisfies Settings;

export type Config = Values<typeof settings>;

/** Every variable a setting reads, with the zod schema of its text. */
const envSchema = z.object(variablesOf(settings));

/** The names of the variables {@link loadConfig} reads (besides `HTTP_SECRET_*`), in the order of {@link Config}. */
export const VARIABLES: readonly string[] = Object.keys(envSchema.shape);

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
  'PAGERDUTY_ROUTING_KEY',
  'SENTRY_DSN',
  'WEBHOOK_SIGNATURE_SECRET',
  'ENCRYPTION_KEYS',
  'CONNECTION_KEYS',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
] as const;

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
  return loadSettings(settings, envSchema, env);
}

const temporalSettings = { temporal: settings.temporal, deployment: settings.deployment, encryption: settings.encryption } satisfies Settings;

/** What a command that talks to Temporal alone needs (`npm run cli -- deploy`): no database. */
export type TemporalSettings = Values<typeof temporalSettings>;

/** Parses the settings of {@link TemporalSettings} as {@link loadConfig} parses them all. */
export function loadTemporalSettings(env: Record<string, string | undefined> = process.env): TemporalSettings {
  return loadSettings(temporalSettings, z.object(variablesOf(temporalSettings)), env);
}

function loadSettings<T extends Settings>(tree: T, schema: z.ZodObject, env: Record<string, string | undefined>): Values<T> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const message = issue.code === 'invalid_type' && env[name] === undefined ? 'is required' : issue.message;
      return `${name} ${message}`;
    });
    throw new ConfigError(problems);
  }
  return deepFreeze(valuesOf(tree, env));
}

function variablesOf(tree: Settings): z.ZodRawShape {
  return Object.assign({}, ...Object.values(tree).map((node) => (node instanceof Setting ? node.variables : variablesOf(node))));
}

function valuesOf<T extends Settings>(tree: T, env: Environment): Values<T> {
  const entries = Object.entries(tree).map(([key, node]) => [key, node instanceof Setting ? node.value(env) : valuesOf(node, env)]);
  // Object.fromEntries cannot carry the keys' types: Values<T> is what the line above builds.
  return Object.fromEntries(entries) as Values<T>;
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
  readonly roleMap: Readonly<Record<string, Role>>;
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
function webhookConfig(e: z.output<typeof webhookVariables>): WebhookConfig | undefined {
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

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A set of AES-256 keys by id and the current one, as ENCRYPTION_KEYS and CONNECTION_KEYS give them. */
export interface KeyRingConfig {
  /** Key id → base64 of 32 bytes. */
  readonly keys: Readonly<Record<string, string>>;
  /** The id of the key new ciphertext is made with. */
  readonly currentKeyId: string;
}

/**
 * A key ring's two variables (ENCRYPTION_KEYS and ENCRYPTION_KEY_ID, or
 * CONNECTION_KEYS and CONNECTION_KEY_ID), checked: ids, 32-byte keys, a
 * current key that is one of them.
 */
function keyRingConfig(keysName: string, keysValue: string | undefined, idName: string, idValue: string | undefined, purpose: string): KeyRingConfig | undefined {
  if (keysValue === undefined) {
    if (idValue === undefined) return undefined;
    throw new ConfigError([`${idName} is set, but ${keysName} is not: set the keys too`]);
  }
  const problems: string[] = [];
  const keys: Record<string, string> = {};
  for (const entry of list(keysValue)) {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at).trim();
    const value = at < 0 ? '' : entry.slice(at + 1).trim();
    if (!KEY_ID_PATTERN.test(id) || !value) {
      problems.push(`${keysName} takes <id>:<base64 key> pairs separated by commas, ids of letters, digits, dots, dashes and underscores`);
      continue;
    }
    const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64').length : 0;
    if (bytes !== 32) {
      problems.push(`${keysName}: key "${id}" is ${bytes ? `${bytes} bytes` : 'not base64'}; AES-256 needs 32 bytes (make one with: openssl rand -base64 32)`);
      continue;
    }
    if (keys[id] !== undefined) problems.push(`${keysName}: key id "${id}" appears twice`);
    keys[id] = value;
  }
  const ids = Object.keys(keys);
  const currentKeyId = idValue?.trim() ?? (ids.length === 1 ? ids[0] : undefined);
  if (problems.length === 0 && currentKeyId === undefined) problems.push(`${idName} is required when ${keysName} holds several keys: name the one ${purpose} (${ids.join(', ')})`);
  else if (problems.length === 0 && keys[currentKeyId!] === undefined) problems.push(`${idName} is "${currentKeyId}", which is not a key of ${keysName} (${ids.join(', ')})`);
  if (problems.length) throw new ConfigError(problems);
  return { keys, currentKeyId: currentKeyId! };
}

/** The variables that switch OIDC on, all needed together. */
const OIDC_REQUIRED = ['OIDC_JWKS_URL', 'OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_ROLE_MAP'] as const;

function oidcConfig(e: z.output<typeof oidcVariables>): OidcConfig | undefined {
  const missing = OIDC_REQUIRED.filter((name) => e[name] === undefined);
  if (missing.length === OIDC_REQUIRED.length) {
    const stray = (['OIDC_ROLES_CLAIM', 'OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL', 'OIDC_CONSOLE_SCOPE'] as const).filter((n) => e[n] !== undefined);
    if (stray.length === 0) return undefined;
    throw new ConfigError(stray.map((name) => `${name} is set, but OIDC is not: set ${OIDC_REQUIRED.join(', ')} too`));
  }
  if (missing.length > 0) {
    const set = OIDC_REQUIRED.filter((name) => e[name] !== undefined).join(', ');
    throw new ConfigError(missing.map((name) => `${name} is required when ${set} ${set.includes(',') ? 'are' : 'is'} set: OIDC needs ${OIDC_REQUIRED.join(', ')}`));
  }
  const roleMap = parseRoleMap(e.OIDC_ROLE_MAP as string);
  if (roleMap instanceof Error) throw new ConfigError([`OIDC_ROLE_MAP ${roleMap.message}`]);
  const consoleVars = ['OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL'] as const;
  const consoleMissing = consoleVars.filter((name) => e[name] === undefined);
  if (consoleMissing.length > 0 && consoleMissing.length < consoleVars.length) {
    throw new ConfigError(consoleMissing.map((name) => `${name} is required for the console's sign-in through OIDC: set ${consoleVars.join(', ')} together`));
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
export function parseRoleMap(value: string): Record<string, Role> | Error {
  const map: Record<string, Role> = Object.create(null) as Record<string, Role>;
  const entries = list(value);
  if (entries.length === 0) return new Error('must list at least one <claim value>:<role> pair');
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    const claimValue = entry.slice(0, Math.max(colon, 0)).trim();
    const role = entry.slice(colon + 1).trim();
    if (colon < 0 || claimValue === '') {
      return new Error(`has "${entry}", which is not <claim value>:<role> (e.g. wf-admins:admin)`);
    }
    if (!isRole(role)) {
      return new Error(`maps "${claimValue}" to "${role}", which is not a role: use ${ROLES.join(', ')}`);
    }
    if (Object.hasOwn(map, claimValue) && map[claimValue] !== role) {
      return new Error(`maps "${claimValue}" twice, to ${map[claimValue]} and to ${role}`);
    }
    map[claimValue] = role;
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
function exposedVariables(names: readonly string[], env: Environment): Readonly<Record<string, string>> {
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
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
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

function list(value: string | undefined): readonly string[] {
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
