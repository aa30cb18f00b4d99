/**
 * The gateway's transport settings with real requests: compressed answers,
 * whose address counts behind a proxy (TRUST_PROXY) for limits and logs, and
 * rate-limit counters shared by two gateways through Redis, which must not
 * take the gateway down when it goes away.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, generateApiKey } from '../../db/api-keys';
import { freePort } from '../../scripts/lib/ports';
import { type Config, loadConfig } from '../../src/config';
import { createApp } from '../../src/gateway/app';
import type { GatewayDeps } from '../../src/gateway/context';
import { createRateLimitRedis } from '../../src/gateway/rate-limit-store';
import { createHarness, eventually, type Harness } from '../support/harness';
import { memoryLogger } from '../support/logs';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ worker: false });
});

afterAll(async () => {
  await h?.close();
});

/** This harness's configuration with other variables set, parsed as the gateway would. */
function configWith(env: Record<string, string>): Config {
  return loadConfig({
    DATABASE_URL: h.databaseUrl,
    TEMPORAL_ADDRESS: h.config.temporal.address,
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ...env,
  });
}

/** Serves a gateway app on this harness's database and Temporal until `use` is done. */
async function withApp<T>(overrides: Partial<GatewayDeps>, use: (baseUrl: string) => Promise<T>): Promise<T> {
  const app = createApp({
    config: h.config,
    db: h.db,
    temporal: { connection: h.connection, client: h.client },
    logger: memoryLogger().logger,
    ...overrides,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  }
}

/** A GET with node:http, which (unlike fetch) hands back the body as it came over the wire. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('compression', () => {
  beforeAll(async () => {
    for (let i = 0; i < 6; i++) {
      const res = await h.api('POST', '/api/workflows', {
        key: `zip-${i}`,
        name: `Compressible ${i}`,
        description: 'A definition with a description long enough that a page of them passes a kibibyte. '.repeat(2),
        category: 'zip',
        steps: [{ id: 'only', type: 'set', values: { x: i } }],
      });
      expect(res.status).toBe(201);
    }
  });

  it('gzips a JSON answer above 1 KiB when Accept-Encoding allows, and the decoded body is the answer', async () => {
    const auth = { authorization: `Bearer ${h.adminKey}` };
    const zipped = await rawGet(`${h.baseUrl}/api/workflows?category=zip`, { ...auth, 'accept-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['vary']).toMatch(/Accept-Encoding/i);
    const decoded = gunzipSync(zipped.body);
    expect(decoded.length).toBeGreaterThan(1024);
    expect(zipped.body.length).toBeLessThan(decoded.length);
    const page = JSON.parse(decoded.toString('utf8'));
    expect(page.total).toBe(6);
    expect(page.items.map((d: { key: string }) => d.key).sort()).toEqual(['zip-0', 'zip-1', 'zip-2', 'zip-3', 'zip-4', 'zip-5']);

    const plain = await rawGet(`${h.baseUrl}/api/workflows?category=zip`, { ...auth, 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(plain.body.toString('utf8'))).toEqual(page);
    const unasked = await rawGet(`${h.baseUrl}/api/workflows?category=zip`, auth);
    expect(unasked.headers['content-encoding']).toBeUndefined();
  });

  it('leaves answers under 1 KiB as they are', async () => {
    const small = await rawGet(`${h.baseUrl}/livez`, { 'accept-encoding': 'gzip' });
    expect(small.status).toBe(200);
    expect(small.body.length).toBeLessThan(1024);
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(small.body.toString('utf8')).status).toBe('alive');
  });
});

describe('TRUST_PROXY', () => {
  /** Requests without a valid key, each from a claimed client address; answers their statuses. */
  async function anonymous(base: string, forwardedFor: string[]): Promise<number[]> {
    const statuses: number[] = [];
    for (const address of forwardedFor) {
      const res = await fetch(`${base}/api/workflows`, {
        headers: { authorization: `Bearer ${generateApiKey()}`, 'x-forwarded-for': address, 'x-request-id': `proxy-${address}-${randomUUID()}` },
      });
      statuses.push(res.status);
    }
    return statuses;
  }

  const clientIps = (lines: Record<string, any>[]) => lines.filter((l) => l.res && l.req?.url === '/api/workflows').map((l) => l.clientIp);

  it('is off by default: X-Forwarded-For is ignored, so forged addresses share the peer’s allowance and logs show the peer', async () => {
    const { logger, lines } = memoryLogger();
    const config = configWith({ RATE_LIMIT_PER_MINUTE: '3' });
    expect(config.http.trustProxy).toBe(false);
    const statuses = await withApp({ config, logger }, (base) => anonymous(base, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']));
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(clientIps(lines)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  it('when it names the proxy, counts and logs the forwarded client address', async () => {
    const { logger, lines } = memoryLogger();
    const config = configWith({ RATE_LIMIT_PER_MINUTE: '3', TRUST_PROXY: 'loopback' });
    const statuses = await withApp({ config, logger }, async (base) => [
      // Four clients behind the proxy: each has its own allowance.
      ...(await anonymous(base, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'])),
      // One client, over its allowance.
      ...(await anonymous(base, ['198.51.100.9', '198.51.100.9', '198.51.100.9', '198.51.100.9'])),
      // A forged hop before the proxy's is not believed: the proxy saw 198.51.100.9.
      ...(await anonymous(base, ['10.9.9.9, 198.51.100.9'])),
    ]);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 429, 429]);
    expect(clientIps(lines)).toEqual([
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
      '203.0.113.4',
      '198.51.100.9',
      '198.51.100.9',
      '198.51.100.9',
      '198.51.100.9',
      '198.51.100.9',
    ]);
  });

  it('takes a hop count', async () => {
    const config = configWith({ RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: '1' });
    const statuses = await withApp({ config }, (base) => anonymous(base, ['203.0.113.7', '203.0.113.8', '203.0.113.8']));
    expect(statuses).toEqual([401, 401, 429]);
  });
});

describe('rate limits in Redis', () => {
  let redisUrl: string | undefined;
  let ownServer: ChildProcess | undefined;
  const clients: Redis[] = [];

  /** The Redis of TEST_REDIS_URL or 127.0.0.1:6379; else a private redis-server, when one is installed. */
  beforeAll(async () => {
    const shared = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (await answers(shared)) {
      redisUrl = shared;
      return;
    }
    const port = await freePort();
    ownServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    ownServer.on('error', () => undefined);
    const url = `redis://127.0.0.1:${port}`;
    redisUrl = await eventually(async () => ((await answers(url)) ? url : undefined), 5_000, 'a private redis-server').catch(() => undefined);
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    ownServer?.kill();
  });

  async function answers(url: string): Promise<boolean> {
    const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }

  async function connectedClient(config: Config, logger = memoryLogger().logger): Promise<Redis> {
    const client = createRateLimitRedis(config.redis, logger);
    clients.push(client);
    await client.connect();
    return client;
  }

  it('share one count between two gateways', async (ctx) => {
    if (!redisUrl) ctx.skip(true, 'no Redis: set TEST_REDIS_URL, run one on 127.0.0.1:6379, or install redis-server');
    const prefix = `wfa-test:${randomUUID()}:`;
    const config = configWith({ REDIS_URL: redisUrl!, RATE_LIMIT_REDIS_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '4' });
    const [one, two] = [await connectedClient(config), await connectedClient(config)];
    const { record, key } = await createApiKey(h.db, { name: 'shared limit', role: 'viewer' });
    const call = (base: string) => fetch(`${base}/api/workflows`, { headers: { authorization: `Bearer ${key}` } });

    const answers = await withApp({ config, redis: one }, (first) =>
      withApp({ config, redis: two }, async (second) => {
        const seen: { gateway: string; status: number; remaining: string | null }[] = [];
        for (const [gateway, base] of [['first', first], ['second', second], ['first', first], ['second', second], ['first', first], ['second', second]] as const) {
          const res = await call(base);
          seen.push({ gateway, status: res.status, remaining: /remaining=(\d+)/.exec(res.headers.get('ratelimit') ?? '')?.[1] ?? null });
        }
        return seen;
      }),
    );
    expect(answers).toEqual([
      { gateway: 'first', status: 200, remaining: '3' },
      { gateway: 'second', status: 200, remaining: '2' },
      { gateway: 'first', status: 200, remaining: '1' },
      { gateway: 'second', status: 200, remaining: '0' },
      { gateway: 'first', status: 429, remaining: '0' },
      { gateway: 'second', status: 429, remaining: '0' },
    ]);
    // The count is Redis's, under the configured prefix.
    expect(Number(await one.call('GET', [`${prefix}key:${record.id}`]))).toBe(6);
    await one.call('DEL', [`${prefix}key:${record.id}`]);
  });

  it('count once Redis answers, whether it was down at start or went away later', async (ctx) => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server: ChildProcess | undefined;
    /** Starts a fresh redis-server on `port`; false when none is installed. */
    const startServer = () =>
      new Promise<boolean>((resolve) => {
        server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
        server.once('error', () => resolve(false));
        void eventually(async () => ((await answers(url)) ? true : undefined), 5_000, 'redis-server').then(() => resolve(true), () => resolve(false));
      });
    const stopServer = async () => {
      if (!server || server.exitCode !== null) return;
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill();
      await exited;
    };
    try {
      const { logger, lines } = memoryLogger();
      const config = configWith({ REDIS_URL: url, RATE_LIMIT_REDIS_PREFIX: `wfa-test:${randomUUID()}:`, RATE_LIMIT_PER_MINUTE: '2' });
      const client = createRateLimitRedis(config.redis, logger);
      clients.push(client);
      // Down when the gateway starts: the store's scripts cannot be loaded yet.
      await expect(client.connect()).rejects.toThrow();
      const { key } = await createApiKey(h.db, { name: 'outage', role: 'viewer' });
      const statuses = await withApp({ config, logger, redis: client }, async (base) => {
        const call = async () => (await fetch(`${base}/api/workflows`, { headers: { authorization: `Bearer ${key}` } })).status;
        const backUp = async () => {
          if (!(await startServer())) ctx.skip(true, 'redis-server is not installed');
          await eventually(async () => (client.status === 'ready' ? true : undefined), 15_000, 'the client to reconnect');
        };
        const seen = [await call(), await call(), await call()];
        await backUp();
        seen.push(await call(), await call(), await call());
        await stopServer();
        seen.push(await call(), await call());
        await backUp();
        // A fresh server has no counts and no scripts loaded: the limit applies again from zero.
        seen.push(await call(), await call(), await call());
        return seen;
      });
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 200, 200, 200, 200, 429]);
      const messages = lines.map((l) => l.msg as string);
      expect(messages.filter((m) => m === 'Redis is unreachable: rate limits are not enforced until it is back')).toHaveLength(2);
      expect(messages.filter((m) => m === 'Redis is reachable again: rate limits are enforced')).toHaveLength(2);
    } finally {
      await stopServer();
    }
  });

  it('let requests through, with a warning, when Redis is unreachable', async () => {
    const { logger, lines } = memoryLogger();
    const config = configWith({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_PER_MINUTE: '2' });
    const client = createRateLimitRedis(config.redis, logger);
    clients.push(client);
    await expect(client.connect()).rejects.toThrow();
    const statuses = await withApp({ config, logger, redis: client }, async (base) => {
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) seen.push((await fetch(`${base}/api/workflows`, { headers: { authorization: `Bearer ${h.adminKey}` } })).status);
      return seen;
    });
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg as string);
    expect(warnings).toContain('Redis is unreachable: rate limits are not enforced until it is back');
    // The limiter's own warning, once however many requests went through unlimited.
    expect(warnings.filter((m) => /allowing request without rate-limiting/.test(m))).toHaveLength(1);
  });
});
