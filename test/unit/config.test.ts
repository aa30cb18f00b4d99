import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { poolSettings } from '../../db/client';
import { ConfigError, loadConfig, redactUrl, VARIABLES } from '../../src/config';

const base = { DATABASE_URL: 'postgres://app:s3cret@db.example:5432/workflows' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config.http.port).toBe(3000);
    expect(config.temporal).toMatchObject({ address: 'localhost:7233', namespace: 'default', taskQueue: 'workflow-automation' });
    expect(config.workflow).toEqual({
      maxConcurrentExecutions: 20,
      defaultTimeoutSeconds: 300,
      heartbeatTimeoutSeconds: 10,
      databaseWaitLimitSeconds: 86_400,
      queueConcurrency: 100,
      localReads: true,
      enableCaching: true,
      cacheTtlSeconds: 3600,
      continueAsNewAfterEvents: 10_000,
    });
    expect(config.rateLimit).toEqual({ enabled: true, perMinute: 120 });
    expect(config.smtp.host).toBeUndefined();
  });

  it('turns the dev outbox on in development only, unless DEV_OUTBOX says otherwise', () => {
    expect(loadConfig(base).devOutbox).toBe(true);
    expect(loadConfig({ ...base, NODE_ENV: 'test' }).devOutbox).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).devOutbox).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'production', DEV_OUTBOX: 'true' }).devOutbox).toBe(true);
    expect(loadConfig({ ...base, DEV_OUTBOX: 'false' }).devOutbox).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'test', DEV_OUTBOX: '' }).devOutbox).toBe(false);
    expect(problemsOf({ ...base, DEV_OUTBOX: 'maybe' })).toEqual(['DEV_OUTBOX must be one of true, false, 1, 0, yes, no']);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig(base);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.smtp)).toBe(true);
  });

  it('names every bad variable on its own line, without echoing values', () => {
    const problems = problemsOf({
      DATABASE_URL: 'mysql://root:hunter2@x/y',
      PORT: 'eighty',
      SMTP_SECURE: 'maybe',
      LOG_LEVEL: 'loud',
      SLACK_WEBHOOK_URL: 'not a url',
    });
    expect(problems).toHaveLength(5);
    expect(problems.map((p) => p.split(' ')[0]).sort()).toEqual(
      ['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'SLACK_WEBHOOK_URL', 'SMTP_SECURE'].sort(),
    );
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('reports a missing DATABASE_URL as required', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^DATABASE_URL is required/)]);
  });

  it('treats empty values as unset and parses lists', () => {
    const config = loadConfig({ ...base, SMTP_HOST: '', CORS_ORIGINS: 'https://a.example, https://b.example' });
    expect(config.smtp.host).toBeUndefined();
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('leaves /metrics open unless METRICS_REQUIRE_KEY is set', () => {
    expect(loadConfig(base).metrics).toEqual({ requireKey: false });
    expect(loadConfig({ ...base, METRICS_REQUIRE_KEY: 'true' }).metrics).toEqual({ requireKey: true });
    expect(problemsOf({ ...base, METRICS_REQUIRE_KEY: 'sometimes' })).toEqual([expect.stringMatching(/^METRICS_REQUIRE_KEY /)]);
  });

  it('defaults database steps to DATABASE_URL with no table allowed, and email attachments to 10 MiB each, 25 MiB in all', () => {
    const config = loadConfig(base);
    expect(config.data).toEqual({ url: base.DATABASE_URL, tables: [] });
    expect(config.smtp).toMatchObject({ maxAttachmentBytes: 10 * 1024 * 1024, maxTotalAttachmentBytes: 25 * 1024 * 1024 });
    const own = loadConfig({ ...base, DATA_DATABASE_URL: 'postgres://writer:pw@data.example/crm', DATA_TABLES: 'orders, crm.contacts' });
    expect(own.data).toEqual({ url: 'postgres://writer:pw@data.example/crm', tables: ['orders', 'crm.contacts'] });
  });

  it('keeps idle pooled connections 10 minutes unless DATABASE_POOL_IDLE_TIMEOUT says otherwise, in seconds', () => {
    expect(poolSettings(loadConfig(base).database)).toEqual({ url: base.DATABASE_URL, poolMax: 10, idleTimeoutMs: 600_000 });
    expect(poolSettings(loadConfig({ ...base, DATABASE_POOL_MAX: '4', DATABASE_POOL_IDLE_TIMEOUT: '30' }).database)).toMatchObject({ poolMax: 4, idleTimeoutMs: 30_000 });
    for (const bad of ['0', '1.5', 'ten', '86401']) {
      expect(problemsOf({ ...base, DATABASE_POOL_IDLE_TIMEOUT: bad }), bad).toEqual([expect.stringMatching(/^DATABASE_POOL_IDLE_TIMEOUT /)]);
    }
  });

  it('listens for changed keys and definitions on DATABASE_URL unless DATABASE_LISTEN_URL names another connection or is off', () => {
    expect(loadConfig(base).database.listenUrl).toBe(base.DATABASE_URL);
    expect(loadConfig({ ...base, DATABASE_LISTEN_URL: 'postgres://direct.example/automation' }).database.listenUrl).toBe('postgres://direct.example/automation');
    expect(loadConfig({ ...base, DATABASE_LISTEN_URL: 'off' }).database.listenUrl).toBeUndefined();
    const problems = problemsOf({ ...base, DATABASE_LISTEN_URL: 'mysql://root:hunter4@x/y' });
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_LISTEN_URL /)]);
    expect(problems.join('\n')).not.toContain('hunter4');
  });

  it('refuses table names that are not plain identifiers, and a data URL that is not Postgres, without echoing it', () => {
    const problems = problemsOf({ ...base, DATA_TABLES: 'orders, users; drop table x', DATA_DATABASE_URL: 'mysql://root:hunter3@x/y' });
    expect(problems.map((p) => p.split(' ')[0]).sort()).toEqual(['DATA_DATABASE_URL', 'DATA_TABLES']);
    expect(problems.join('\n')).not.toContain('hunter3');
  });

  it('trusts no proxy by default, and takes a hop count, true, or addresses, networks and names for TRUST_PROXY', () => {
    expect(loadConfig(base).http.trustProxy).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: '' }).http.trustProxy).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ ...base, TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8, 192.168.1.7, fd00::/8' }).http.trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
    ]);
    const problems = problemsOf({ ...base, TRUST_PROXY: 'loopback, proxy.internal, 10.0.0.0/99' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^TRUST_PROXY has "proxy\.internal", "10\.0\.0\.0\/99", which is not an IP address, a CIDR network/);
    expect(problemsOf({ ...base, TRUST_PROXY: '1000' })).toEqual(['TRUST_PROXY must be at most 100 proxy hops']);
  });

  it('serves no worker SDK metrics by default, and checks WORKER_METRICS_ADDRESS is host:port', () => {
    expect(loadConfig(base).workerMetricsAddress).toBeUndefined();
    expect(loadConfig({ ...base, WORKER_METRICS_ADDRESS: '0.0.0.0:9464' }).workerMetricsAddress).toBe('0.0.0.0:9464');
    expect(loadConfig({ ...base, WORKER_METRICS_ADDRESS: '[::1]:9464' }).workerMetricsAddress).toBe('[::1]:9464');
    for (const bad of ['9464', 'localhost', 'http://127.0.0.1:9464', '127.0.0.1:99999', '127.0.0.1:0']) {
      expect(problemsOf({ ...base, WORKER_METRICS_ADDRESS: bad }), bad).toEqual([expect.stringMatching(/^WORKER_METRICS_ADDRESS must be host:port/)]);
    }
  });

  it('keeps rate-limit counters under a prefix in Redis', () => {
    expect(loadConfig(base).redis).toEqual({ url: undefined, password: undefined, rateLimitPrefix: 'wfa:ratelimit:' });
    expect(loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_REDIS_PREFIX: 'eu1:rl:' }).redis).toMatchObject({
      url: 'redis://127.0.0.1:6379',
      rateLimitPrefix: 'eu1:rl:',
    });
  });

  it('exposes the variables EXPRESSION_ENV lists, and refuses secrets, unset names and bad names', () => {
    expect(loadConfig(base).expressionEnv).toEqual({});
    const config = loadConfig({ ...base, EXPRESSION_ENV: 'APP_NAME, SUPPORT_EMAIL', APP_NAME: 'Acme', SUPPORT_EMAIL: 'help@acme.test' });
    expect(config.expressionEnv).toEqual({ APP_NAME: 'Acme', SUPPORT_EMAIL: 'help@acme.test' });
    const problems = problemsOf({
      ...base,
      EXPRESSION_ENV: 'SMTP_PASS,HTTP_SECRET_CRM,BILLING_API_KEY,REDIS_URL,NOT_SET,lower-case',
      SMTP_PASS: 'hunter2',
      HTTP_SECRET_CRM: 'crm-secret',
      BILLING_API_KEY: 'k-123',
    });
    expect(problems).toEqual([
      'EXPRESSION_ENV lists SMTP_PASS, which is or looks like a secret: values exposed to expressions are stored in run history',
      'EXPRESSION_ENV lists HTTP_SECRET_CRM, which is or looks like a secret: values exposed to expressions are stored in run history',
      'EXPRESSION_ENV lists BILLING_API_KEY, which is or looks like a secret: values exposed to expressions are stored in run history',
      'EXPRESSION_ENV lists REDIS_URL, which is or looks like a secret: values exposed to expressions are stored in run history',
      'EXPRESSION_ENV lists NOT_SET, which is not set',
      'EXPRESSION_ENV lists "lower-case", which is not a variable name (A-Z, 0-9, _)',
    ]);
    expect(problems.join('\n')).not.toMatch(/hunter2|crm-secret|k-123/);
  });

  it('redacts the password of a URL for printing', () => {
    expect(redactUrl(base.DATABASE_URL)).toBe('postgres://app:***@db.example:5432/workflows');
  });
});

describe('webhook signature settings', () => {
  const standard = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
  const next = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
  const legacy = 'a-legacy-hex-secret-0123456789abcdef';

  it('turn webhooks off without a secret, and take standard signatures by default, with several secrets for rotation', () => {
    expect(loadConfig(base).webhooks).toBeUndefined();
    expect(loadConfig({ ...base, WEBHOOK_SIGNATURE_SCHEME: 'both' }).webhooks).toBeUndefined();
    expect(loadConfig({ ...base, WEBHOOK_SIGNATURE_SECRET: ` ${standard} , ${next} ` }).webhooks).toEqual({ scheme: 'standard', secrets: [standard, next] });
  });

  it('blank each secret in reports on its own, and a standard one without its prefix', () => {
    const config = loadConfig({ ...base, WEBHOOK_SIGNATURE_SECRET: `${standard},${legacy}`, WEBHOOK_SIGNATURE_SCHEME: 'both' });
    expect(config.secretValues).toEqual(expect.arrayContaining([standard, standard.slice(6), legacy]));
  });

  it('refuse a secret that is not whsec_<base64> under standard, saying how to migrate, without echoing it', () => {
    const problems = problemsOf({ ...base, WEBHOOK_SIGNATURE_SECRET: `${standard},${legacy}` });
    expect(problems).toEqual([
      'WEBHOOK_SIGNATURE_SECRET entry 2 of 2 is not written as whsec_<base64>',
      expect.stringMatching(/whsec_\$\(openssl rand -base64 32\).*set WEBHOOK_SIGNATURE_SCHEME=both \(or legacy\)/),
    ]);
    expect(problems.join('\n')).not.toContain(legacy);
    expect(problemsOf({ ...base, WEBHOOK_SIGNATURE_SECRET: `whsec_${Buffer.alloc(16).toString('base64')}` })[0]).toBe(
      'WEBHOOK_SIGNATURE_SECRET entry 1 of 1 decodes to 16 bytes; a key is 24 to 64 random bytes',
    );
  });

  it('keep existing secrets working under legacy and both; both needs one whsec_ secret and refuses a broken one', () => {
    expect(loadConfig({ ...base, WEBHOOK_SIGNATURE_SECRET: legacy, WEBHOOK_SIGNATURE_SCHEME: 'legacy' }).webhooks).toEqual({ scheme: 'legacy', secrets: [legacy] });
    expect(loadConfig({ ...base, WEBHOOK_SIGNATURE_SECRET: `${next},${legacy}`, WEBHOOK_SIGNATURE_SCHEME: 'both' }).webhooks).toEqual({ scheme: 'both', secrets: [next, legacy] });
    expect(problemsOf({ ...base, WEBHOOK_SIGNATURE_SECRET: legacy, WEBHOOK_SIGNATURE_SCHEME: 'both' })).toEqual([
      expect.stringMatching(/has no whsec_ secret, which WEBHOOK_SIGNATURE_SCHEME=both needs/),
    ]);
    expect(problemsOf({ ...base, WEBHOOK_SIGNATURE_SECRET: `whsec_!!,${legacy}`, WEBHOOK_SIGNATURE_SCHEME: 'both' })[0]).toBe(
      'WEBHOOK_SIGNATURE_SECRET entry 1 of 2 is not base64 after whsec_',
    );
    expect(problemsOf({ ...base, WEBHOOK_SIGNATURE_SCHEME: 'hmac' })).toEqual(['WEBHOOK_SIGNATURE_SCHEME must be one of standard, legacy, both']);
  });
});

describe('the variables as documented', () => {
  /** Read outside the declared settings: by prefix (HTTP_SECRET_), or by the scripts only (TEMPORAL_CLI_PATH). */
  const undeclared = ['HTTP_SECRET_<NAME>', 'TEMPORAL_CLI_PATH'];
  const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

  it('are each in .env.example, set or commented out, and it has no other', () => {
    const names = [...read('.env.example').matchAll(/^#?\s*([A-Z][A-Z0-9_]*(?:<NAME>)?)=/gm)].map((m) => m[1]!);
    expect(names.toSorted()).toEqual([...VARIABLES, ...undeclared].toSorted());
  });

  it("are each in DEPLOYMENT.md's table of variables, and it has no other", () => {
    const doc = read('docs/DEPLOYMENT.md');
    const table = doc.slice(doc.indexOf('| variable | read by |')).split('\n\n')[0]!;
    const names = table
      .split('\n')
      .slice(2)
      .flatMap((row) => [...row.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]*(?:<NAME>)?)`/g)].map((m) => m[1]!));
    expect(names.toSorted()).toEqual([...VARIABLES, ...undeclared].toSorted());
  });
});
