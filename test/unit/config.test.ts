import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactUrl } from '../../src/config';

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
      queueConcurrency: 10,
      enableCaching: true,
      cacheTtlSeconds: 3600,
    });
    expect(config.rateLimit).toEqual({ enabled: true, perMinute: 120 });
    expect(config.smtp.host).toBeUndefined();
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

  it('refuses table names that are not plain identifiers, and a data URL that is not Postgres, without echoing it', () => {
    const problems = problemsOf({ ...base, DATA_TABLES: 'orders, users; drop table x', DATA_DATABASE_URL: 'mysql://root:hunter3@x/y' });
    expect(problems.map((p) => p.split(' ')[0]).sort()).toEqual(['DATA_DATABASE_URL', 'DATA_TABLES']);
    expect(problems.join('\n')).not.toContain('hunter3');
  });

  it('redacts the password of a URL for printing', () => {
    expect(redactUrl(base.DATABASE_URL)).toBe('postgres://app:***@db.example:5432/workflows');
  });
});
