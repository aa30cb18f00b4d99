/**
 * The one place that reads `process.env`. Everything else receives the frozen
 * {@link Config} object this module returns.
 *
 * Each setting is declared once, in `settings` below: the variable it reads,
 * the zod schema of its text (default, bounds, error message) and its doc
 * comment. The parsing and the `Config` type both follow from that tree; each
 * variable's meaning for operators is in .env.example and docs/DEPLOYMENT.md,
 * which test/unit/config.test.ts keeps in step with it. How a variable's text
 * is read, and the settings whose variables are checked together (OIDC, key
 * rings, webhooks), are in src/config/.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { CHANNEL_TYPES, type ChannelType } from '../channels';
import { connectionKeyVariables, encryptionVariables, keyRingConfig } from './config/key-rings';
import { isBindAddress, parseTrustProxy } from './config/network';
import { oidcConfig, oidcVariables } from './config/oidc';
import { ConfigError, type Environment, bool, int, list, optionalBool, optionalHttpUrl, optionalString, optionalUrl } from './config/variables';
import { webhookConfig, webhookVariables } from './config/webhooks';
import { temporalConnectionSecurity, temporalConnectionVariables, type TemporalConnectionSecurity } from './temporal/connection-options';

export { ConfigError } from './config/variables';

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

const webhooks = fromVariables(webhookVariables, webhookConfig);

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
     * Seconds a pooled connection may sit idle before it is closed. Long, so
     * a burst after a quiet spell finds its connections open rather than
     * making them anew (each a new Postgres backend, authentication and cold
     * caches) while its runs wait. @default 600
     */
    poolIdleTimeoutSeconds: from('DATABASE_POOL_IDLE_TIMEOUT', int(600, 1, 86_400)),
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
    /**
     * Concurrent activities (deliveries, HTTP calls, data updates) per worker.
     * Nearly all of a step's activity is waiting on a peer, so the SDK's
     * default; their statements share the worker's `DATABASE_POOL_MAX`
     * connections, waiting their turn (db/client.ts). @default 100
     */
    queueConcurrency: from('WORKFLOW_QUEUE_CONCURRENCY', int(100, 1, 10_000)),
    /**
     * Start runs whose `http` steps that only read (GET, HEAD) try a local
     * activity first, falling back to an ordinary activity
     * (workflows/run/local-reads.ts). Read by whatever starts runs. @default true
     */
    localReads: from('WORKFLOW_LOCAL_READS', bool(true)),
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

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
