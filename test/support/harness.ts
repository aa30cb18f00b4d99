/**
 * One test file's world: its own database (migrated), its own task queue, a
 * running worker on the shared dev server, and the gateway on a free port.
 */
import { dataConverterFor } from '../../src/temporal/encryption';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { inject } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { listenForChanges } from '../../db/change-feed';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import type { Database } from '../../db/schema';
import { dropDatabase, ensureDatabase } from '../../scripts/lib/postgres';
import { type Config, loadConfig } from '../../src/config';
import { createApp } from '../../src/gateway/app';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';
import { createLogger, type Logger } from '../../src/logger';
import { createWorker } from '../../src/worker/create-worker';
import { installRuntime } from '../../src/worker/runtime';

export interface Harness {
  config: Config;
  db: Kysely<Database>;
  databaseUrl: string;
  client: Client;
  connection: Connection;
  baseUrl: string;
  /** An admin API key, which `api()` sends unless told otherwise. */
  adminKey: string;
  /** Starts a worker on this harness's task queue (already running unless `worker: false`). */
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  /** The worker's state (`RUNNING` while it polls), or undefined when none was started. */
  workerState(): string | undefined;
  /** The running worker, if any. */
  worker(): Worker | undefined;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>, options?: ApiOptions): Promise<ApiResponse>;
  close(): Promise<void>;
}

export interface ApiOptions {
  /** The API key to send as a bearer token; `null` sends none. @default the harness's admin key */
  key?: string | null;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Start a worker polling the task queue. @default true */
  worker?: boolean;
  /** The gateway's logger, e.g. one writing to memory. @default a logger at LOG_LEVEL (silent) */
  logger?: Logger;
  /** The Postgres server to make this harness's database on. @default the suite's */
  postgresUrl?: string;
}

export async function createHarness({ env = {}, worker: withWorker = true, logger: gatewayLogger, postgresUrl }: HarnessOptions = {}): Promise<Harness> {
  const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
  const databaseUrl = withDatabase(postgresUrl ?? inject('postgresUrl'), `wfa_test_${suffix}`);
  await ensureDatabase(databaseUrl);

  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    ...inject('temporalEnv'),
    TEMPORAL_TASK_QUEUE: `test-${suffix}`,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    // Tests share one key; a file testing the limit sets its own.
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...env,
  });
  const db = createDb({ url: databaseUrl, poolMax: 5 });
  await migrateToLatest(db);
  const { key: adminKey } = await createApiKey(db, { name: 'test harness', role: 'admin' });

  const connection = await Connection.connect(temporalConnectionOptions(config.temporal));
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config.encryption) });
  const logger = gatewayLogger ?? createLogger(config, 'test');
  installRuntime(createLogger({ logLevel: 'error' }, 'sdk'));

  // As the gateway runs: keys and definitions kept in memory, dropped on Postgres's notices.
  const changes = listenForChanges({ url: databaseUrl, logger, runEndings: true });
  await changes.ready();
  const app = createApp({ config, db, temporal: { connection, client }, logger, changes });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;

  const harness: Harness = {
    config,
    db,
    databaseUrl,
    client,
    connection,
    baseUrl,
    adminKey,
    async startWorker() {
      nativeConnection ??= await NativeConnection.connect(temporalConnectionOptions(config.temporal));
      worker = await createWorker({
        config,
        db,
        connection: nativeConnection,
        workflowBundle: { codePath: inject('workflowBundlePath') },
        changes,
      });
      running = worker.run();
    },
    async stopWorker() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      worker = undefined;
    },
    workerState() {
      return worker?.getState();
    },
    worker() {
      return worker;
    },
    async api(method, path, body, headers = {}, { key = adminKey }: ApiOptions = {}) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      await harness.stopWorker();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await nativeConnection?.close();
      await changes.close();
      await connection.close();
      await db.destroy();
      await dropDatabase(databaseUrl).catch(() => undefined);
    },
  };
  if (withWorker) await harness.startWorker();
  return harness;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
