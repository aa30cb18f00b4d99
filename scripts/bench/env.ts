/**
 * What the benchmarks run on, brought up by the benchmark itself: Temporal dev
 * servers (in memory, headless, free ports), a Postgres (`DATABASE_URL`, else an
 * embedded one in a temporary folder) with a fresh database, loopback SMTP,
 * Slack and HTTP peers, and one workflow bundle every worker shares.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { type Kysely, sql } from 'kysely';
import type { createActivities } from '../../activities';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import type { Database } from '../../db/schema';
import { type Config, loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { dataConverterFor } from '../../src/temporal/encryption';
import { buildWorkflowBundle, createWorker } from '../../src/worker/create-worker';
import { installRuntime } from '../../src/worker/runtime';
import { dropDatabase, ensureDatabase, obtainPostgres, type RunningPostgres } from '../lib/postgres';
import { freePort } from '../lib/ports';
import { type HttpSink, type SmtpSink, slackApiReply, startHttpSink, startSmtpSink } from '../lib/sinks';
import { type DevServer, findOrBuildTemporalCli, type Say, startTemporal } from '../lib/temporal';

const execFileAsync = promisify(execFile);

/**
 * Dev server set-ups the benchmarks compare. Every one starts from DEV_SERVER_TUNING (what `npm run
 * dev` and the tests run); the others add flags after it, a later value for the same key winning.
 * `judged`: the product runs a server set up so, and targets apply to it; the others are comparisons.
 */
export const SERVER_SETUPS = {
  tuned: {
    label: '1 partition, transfer poll 1000/s',
    description: 'DEV_SERVER_TUNING as is: one task-queue partition, transfer-task polling at 1000 per second (the dev server and the tests)',
    args: [],
    judged: true,
  },
  partitions: {
    label: '4 partitions',
    description:
      "DEV_SERVER_TUNING with the server's default of four task-queue partitions put back (as docker-compose.yml's server runs: " +
      'its defaults and transfer-task polling at 1000 per second)',
    args: [
      '--dynamic-config-value',
      'matching.numTaskqueueReadPartitions=4',
      '--dynamic-config-value',
      'matching.numTaskqueueWritePartitions=4',
    ],
    judged: true,
  },
  slowTransfer: {
    label: '1 partition, transfer poll 20/s (server default)',
    description:
      "DEV_SERVER_TUNING with the server's default history.transferProcessorMaxPollRPS=20 put back: the rate " +
      "at which the history service's one shard may read new tasks to hand to matching",
    args: ['--dynamic-config-value', 'history.transferProcessorMaxPollRPS=20'],
    judged: false,
  },
} as const satisfies Record<string, { label: string; description: string; args: readonly string[]; judged: boolean }>;

export type ServerSetup = keyof typeof SERVER_SETUPS;

export type Activities = ReturnType<typeof createActivities>;

/** One dev server, with a client and a worker connection to it. */
export interface TemporalTarget {
  setup: ServerSetup;
  address: string;
  client: Client;
  connection: Connection;
  native: NativeConnection;
  server: DevServer;
}

export interface RunningWorker {
  config: Config;
  target: TemporalTarget;
  taskQueue: string;
  stop(): Promise<void>;
}

export interface BenchEnv {
  db: Kysely<Database>;
  postgres: { embedded: boolean; version: string };
  /** A URL of the same Postgres server for another database, e.g. one a benchmark creates and drops itself. */
  databaseUrl(database: string): string;
  temporalVersion: string;
  /** The dev server as the product runs it: DEV_SERVER_TUNING (one task-queue partition). */
  tuned: TemporalTarget;
  /** Starts another dev server, for a benchmark comparing set-ups; the benchmark stops it. */
  startServer(setup: ServerSetup): Promise<TemporalTarget & { close(): Promise<void> }>;
  smtp: SmtpSink;
  slack: HttpSink;
  api: HttpSink;
  /** Configuration of a worker (or gateway) on `target` using `taskQueue`; `extra` adds or overrides variables. */
  configFor(target: Pick<TemporalTarget, 'address'>, taskQueue: string, extra?: Record<string, string>): Config;
  /** The variables that configuration is loaded from, for a worker or gateway run as a process of its own. */
  environmentFor(target: Pick<TemporalTarget, 'address'>, taskQueue: string): Record<string, string>;
  /** A worker on `target`; `extra` adds or overrides variables of its configuration (its target's client gets the same data converter). */
  startWorker(options: { target: TemporalTarget; taskQueue: string; activities?: (config: Config) => Activities; extra?: Record<string, string> }): Promise<RunningWorker>;
  /** Forgets what the loopback peers received so far (they keep every message). */
  clearSinks(): void;
  close(): Promise<void>;
}

const noop = () => undefined;

export async function startBenchEnv(say: Say): Promise<BenchEnv> {
  const scratch = await mkdtemp(join(tmpdir(), 'wfa-bench-'));
  const stops: (() => Promise<unknown>)[] = [async () => rm(scratch, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(noop);
  };
  try {
    installRuntime(createLogger({ logLevel: 'error' }, 'sdk'));
    const started = Date.now();
    // Each piece registers its own stop as soon as it is up, so a failure elsewhere leaves nothing running.
    const up = <T>(started: Promise<T>, stop: (value: T) => Promise<unknown>) =>
      started.then((value) => {
        stops.push(() => stop(value));
        return value;
      });
    const results = await Promise.allSettled([
      up(startTarget('tuned', say), (t) => t.close()),
      up(
        freePort().then((port) =>
          obtainPostgres(process.env.DATABASE_URL, { dataDir: join(scratch, 'postgres'), port, database: 'postgres' }, say),
        ),
        (pg: RunningPostgres) => pg.stop(),
      ),
      buildWorkflowBundle(fileURLToPath(new URL('./workflows.ts', import.meta.url))).then((code) => ({ code })),
      up(startSmtpSink(), (sink) => sink.close()),
      up(startHttpSink(), (sink) => sink.close()),
      up(startHttpSink(), (sink) => sink.close()),
    ] as const);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const value = <T>(r: PromiseSettledResult<T>): T => (r as PromiseFulfilledResult<T>).value;
    const [tuned, postgres, bundle, smtp, slack, api] = [
      value(results[0]),
      value(results[1]),
      value(results[2]),
      value(results[3]),
      value(results[4]),
      value(results[5]),
    ];
    slack.respond = slackApiReply;

    const databaseUrl = withDatabase(postgres.url, `wfa_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`);
    await ensureDatabase(databaseUrl);
    stops.push(() => dropDatabase(databaseUrl));
    const probe = loadConfig({ DATABASE_URL: databaseUrl });
    const db = createDb({ url: databaseUrl, poolMax: probe.database.poolMax });
    stops.push(() => db.destroy());
    await migrateToLatest(db);
    const version = (await sql<{ version: string }>`select version()`.execute(db)).rows[0]?.version ?? 'unknown';
    say(
      `Temporal at ${tuned.address}, ` +
        `Postgres ${postgres.embedded ? 'embedded' : 'from DATABASE_URL'}, ready in ${Date.now() - started} ms`,
    );

    const environmentFor = (target: Pick<TemporalTarget, 'address'>, taskQueue: string): Record<string, string> => ({
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: target.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LOG_LEVEL: 'error',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      SLACK_BOT_TOKEN: 'xoxb-benchmark',
      SLACK_API_URL: `${slack.url}/api/`,
      HTTP_ALLOWED_HOSTS: '127.0.0.1',
    });
    const configFor = (target: Pick<TemporalTarget, 'address'>, taskQueue: string, extra: Record<string, string> = {}): Config =>
      loadConfig({ ...environmentFor(target, taskQueue), ...extra });

    return {
      db,
      postgres: { embedded: postgres.embedded, version: version.split(' on ')[0] ?? version },
      databaseUrl: (database) => withDatabase(postgres.url, database),
      temporalVersion: await temporalVersion(),
      tuned,
      startServer: (setup) => startTarget(setup, say),
      smtp,
      slack,
      api,
      configFor,
      environmentFor,
      async startWorker({ target, taskQueue, activities, extra }) {
        const config = configFor(target, taskQueue, extra);
        // A worker that encrypts payloads is started and read by a client with the same codec.
        const own = config.encryption
          ? { ...target, client: new Client({ connection: target.connection, namespace: 'default', dataConverter: dataConverterFor(config.encryption) }) }
          : target;
        const worker = await createWorker({
          config,
          db,
          connection: target.native,
          workflowBundle: bundle,
          ...(activities ? { activities: activities(config) } : {}),
        });
        const running = worker.run();
        return {
          config,
          target: own,
          taskQueue,
          async stop() {
            if (worker.getState() === 'RUNNING') worker.shutdown();
            await running;
          },
        };
      },
      clearSinks() {
        smtp.messages.length = 0;
        slack.requests.length = 0;
        api.requests.length = 0;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function startTarget(setup: ServerSetup, say: Say): Promise<TemporalTarget & { close(): Promise<void> }> {
  const server = await startTemporal({ port: await freePort(), headless: true, extraArgs: SERVER_SETUPS[setup].args }, say);
  try {
    const connection = await Connection.connect({ address: server.address });
    await ensureSearchAttributes(connection, 'default');
    const native = await NativeConnection.connect({ address: server.address });
    return {
      setup,
      address: server.address,
      client: new Client({ connection, namespace: 'default' }),
      connection,
      native,
      server,
      async close() {
        await native.close().catch(noop);
        await connection.close().catch(noop);
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function temporalVersion(): Promise<string> {
  const cli = await findOrBuildTemporalCli(noop).catch(() => undefined);
  if (!cli) return 'the Temporal SDK download of the dev server';
  try {
    const { stdout } = await execFileAsync(cli, ['--version'], { timeout: 10_000 });
    // A CLI built with `go install` reports no release of its own.
    return stdout.trim().replace(/^temporal version 0\.0\.0-DEV/, 'Temporal CLI built from source').replace(/^temporal version/, 'Temporal CLI');
  } catch {
    return 'unknown';
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
