/**
 * Probes and metrics: /livez, /readyz (Postgres and Temporal, each checked
 * for real), and /metrics in Prometheus text from a registry of each app's
 * own, open unless METRICS_REQUIRE_KEY.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';
import type { Config } from '../../src/config';
import { createApp } from '../../src/gateway/app';
import type { GatewayDeps } from '../../src/gateway/context';
import { createLogger } from '../../src/logger';
import { createHarness, type Harness } from '../support/harness';
import { memoryLogger } from '../support/logs';

let h: Harness;

beforeAll(async () => {
  // No worker: readiness does not depend on one, and starting runs does not need one.
  h = await createHarness({ worker: false });
  const res = await h.api('POST', '/api/workflows', { key: 'obs-def', name: 'Obs', category: 'tests', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
  expect(res.status).toBe(201);
});

afterAll(async () => {
  await h?.close();
});

/** Another app in this process on some of the harness's resources, for as long as `use` runs. */
async function withApp(overrides: Partial<GatewayDeps>, use: (baseUrl: string) => Promise<void>): Promise<void> {
  const app = createApp({
    config: h.config,
    db: h.db,
    temporal: { connection: h.connection, client: h.client },
    logger: createLogger({ logLevel: 'silent' }, 'test'),
    ...overrides,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  }
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('probes', () => {
  it('/livez and /readyz answer 200 without a key when Postgres and Temporal answer, workers or not', async () => {
    const live = await h.api('GET', '/livez', undefined, {}, { key: null });
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('alive');
    const ready = await h.api('GET', '/readyz', undefined, {}, { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { postgres: { status: 'up' }, temporal: { status: 'up' } } });
    expect(ready.headers.get('cache-control')).toBe('no-store');
    // The full health report wants a worker; readiness does not.
    expect((await h.api('GET', '/api/health/workflows', undefined, {}, { key: null })).status).toBe(503);
  });

  it('/readyz answers 503 naming Postgres when it does not answer, while /livez stays 200', async () => {
    const deadDb = createDb({ url: 'postgres://nobody@127.0.0.1:1/nothing', poolMax: 1 });
    try {
      await withApp({ db: deadDb }, async (base) => {
        const ready = await get(`${base}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.json()).toMatchObject({ status: 'not_ready', checks: { postgres: { status: 'down' }, temporal: { status: 'up' } } });
        expect((await get(`${base}/livez`)).status).toBe(200);
      });
    } finally {
      await deadDb.destroy();
    }
  });

  it('/readyz answers 503 naming Temporal when it does not answer', async () => {
    // No retry interceptor: its pending retry would fire after close() and throw from a timer.
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s', interceptors: [] });
    const client = new Client({ connection });
    try {
      await withApp({ temporal: { connection, client } }, async (base) => {
        const ready = await get(`${base}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.json()).toMatchObject({ checks: { postgres: { status: 'up' }, temporal: { status: 'down' } } });
      });
    } finally {
      await connection.close().catch(() => undefined);
    }
  });
});

describe('probe logs', () => {
  it('warn once when a probe starts failing, naming what is down, and keep probe answers out of the request log', async () => {
    const { logger, lines } = memoryLogger();
    await withApp({ logger }, async (base) => {
      // No worker polls: the full report fails, every time; readiness passes.
      expect((await get(`${base}/api/health/workflows`)).status).toBe(503);
      expect((await get(`${base}/api/health/workflows`)).status).toBe(503);
      expect((await get(`${base}/readyz`)).status).toBe(200);
      expect((await get(`${base}/livez`)).status).toBe(200);
      expect((await get(`${base}/api/no/such/route`)).status).toBe(404);
    });
    expect(lines.map((l) => [l.level, l.msg, l.req?.url])).toEqual([
      [40, `/api/health/workflows fails: worker: no worker is polling task queue "${h.config.temporal.taskQueue}"`, undefined],
      // Other requests are logged as before: a 4xx as a warning.
      [40, 'request completed', '/api/no/such/route'],
    ]);
    expect(lines[0]).toMatchObject({ probe: '/api/health/workflows', checks: { postgres: { status: 'up' }, worker: { status: 'down' } } });
  });

  it('log each probe answer at debug', async () => {
    const { logger, lines } = memoryLogger('debug');
    await withApp({ logger }, async (base) => {
      await get(`${base}/readyz`);
      await get(`${base}/livez`);
    });
    expect(lines.filter((l) => l.msg === 'request completed').map((l) => [l.level, l.req.url, l.res.statusCode])).toEqual([
      [20, '/readyz', 200],
      [20, '/livez', 200],
    ]);
  });
});

describe('/metrics', () => {
  it('counts requests by method, route pattern and status, runs by definition, and 5xx answers by code', async () => {
    await h.api('GET', '/api/workflows/obs-def');
    await h.api('GET', '/api/workflows/obs-def');
    await h.api('GET', '/api/no/such/route/obs-def');
    await h.api('POST', '/api/workflows/obs-def/execute', { triggerData: {} });
    await h.api('POST', '/api/workflows/obs-def/execute', { triggerData: {} }, { 'idempotency-key': 'obs-once' });
    // A replay is not a run started.
    await h.api('POST', '/api/workflows/obs-def/execute', { triggerData: {} }, { 'idempotency-key': 'obs-once' });
    // No webhook secret here: a 503.
    await h.api('POST', '/api/hooks/obs-def', {}, {}, { key: null });

    const res = await h.api('GET', '/metrics', undefined, {}, { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text: string = res.body;

    expect(text).toContain('http_requests_total{method="GET",route="/api/workflows/:id",status="200"} 2');
    expect(text).toContain('http_requests_total{method="POST",route="/api/workflows/:id/execute",status="202"} 2');
    expect(text).toContain('http_requests_total{method="POST",route="/api/workflows/:id/execute",status="200"} 1');
    expect(text).toContain('http_requests_total{method="GET",route="(unmatched)",status="404"} 1');
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/workflows\/:id",status="200"\} 2/);
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/workflows\/:id",status="200"\} \d/);
    // Route patterns, never raw URLs: no request path shows in an http_ label.
    const httpLines = text.split('\n').filter((l) => l.startsWith('http_'));
    expect(httpLines.length).toBeGreaterThan(0);
    for (const line of httpLines) expect(line).not.toContain('obs-def');

    expect(text).toContain('workflow_runs_started_total{definition="obs-def",trigger="manual"} 2');
    expect(text).toContain('gateway_errors_total{code="webhooks_not_configured"} 1');
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });

  it('keeps a registry per app: another app in the same process reports only its own traffic', async () => {
    await withApp({}, async (base) => {
      const other = await get(`${base}/metrics`);
      expect(other.status).toBe(200);
      expect(other.text).not.toMatch(/^workflow_runs_started_total\{/m);
      expect(other.text).not.toContain('route="/api/workflows/:id"');
      expect(other.text).toContain('# TYPE process_cpu_user_seconds_total counter');
    });
    // The first app's metrics still answer, unharmed by the second registering the same names.
    const again = await h.api('GET', '/metrics', undefined, {}, { key: null });
    expect(again.body).toContain('workflow_runs_started_total{definition="obs-def",trigger="manual"} 2');
  });

  it('needs a viewer key (or higher) when METRICS_REQUIRE_KEY is true', async () => {
    const config: Config = { ...h.config, metrics: { requireKey: true } };
    const { key: viewer } = await createApiKey(h.db, { name: 'scraper', role: 'viewer' });
    await withApp({ config }, async (base) => {
      const anonymous = await get(`${base}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.json().code).toBe('unauthenticated');
      expect((await get(`${base}/metrics`, { authorization: 'Bearer not-a-key' })).status).toBe(401);
      const scraped = await get(`${base}/metrics`, { authorization: `Bearer ${viewer}` });
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('# TYPE http_requests_total counter');
      // Probes stay open.
      expect((await get(`${base}/livez`)).status).toBe(200);
      expect((await get(`${base}/readyz`)).status).toBe(200);
    });
  });
});
