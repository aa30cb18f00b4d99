/**
 * `cluster`: throughput and latency of the production topology against the
 * development server, with one worker and with two. The four variants run a
 * three-step notification definition (email, Slack, email, to the loopback
 * peers) in batches that take turns, so the machine's drift reaches them
 * alike:
 *
 * - on the dev server the benchmarks and tests use (`temporal server
 *   start-dev`, SQLite, DEV_SERVER_TUNING) and on the real Temporal server on
 *   Postgres that `npm run cluster` runs (deploy/temporal/config/cluster.yaml,
 *   its dynamic configuration, four task-queue partitions);
 * - with one worker process and with two, each a `src/worker/main.ts` of its
 *   own (a worker is one Node.js event loop: two in one process would share it).
 *
 * Each batch also reads how much CPU went where: the Temporal server, the
 * variant's workers, Postgres, this process (the client), and the machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { sql } from 'kysely';
import type { DefinitionInput } from '../../src/shared/definition';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { entryFile } from '../../src/paths';
import { freePort, isPortTaken } from '../lib/ports';
import { stopChild } from '../lib/supervisor';
import type { Say } from '../lib/temporal';
import {
  ensureNamespace,
  findOrBuildTemporalServer,
  setupTemporalDatabases,
  startTemporalServer,
  TEMPORAL_SERVER_VERSION,
} from '../lib/temporal-server';
import type { Benchmark } from './benchmarks';
import { install, interpreterVariant } from './workload';
import type { BenchEnv } from './env';
import { machineBusyMs, pool, processCpuMs, processGroupCpuMs, rotate, type Timed, type Variant } from './measure';
import { fromRounds, median, PAIRED_NOTE, quantile, type Row, type Table } from './stats';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

/** Workload of the default run: enough in flight to keep two cores busy, four variants within a few minutes. */
export const CLUSTER_SIZES = { warmUp: 20, rounds: 4, batch: 80, concurrency: 24 } as const;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const THREE_NOTES: DefinitionInput = {
  key: 'bench-three-notes',
  name: 'Benchmark: three notifications',
  category: 'benchmark',
  steps: [
    { id: 'mail', type: 'email', to: '{{ input.user }}@example.test', subject: 'first', text: 'hello' },
    { id: 'post', type: 'slack', channel: '#bench', text: 'run for {{ input.user }}' },
    { id: 'again', type: 'email', to: '{{ input.user }}@example.test', subject: 'second', text: 'bye' },
  ],
};

let userCounter = 0;
const trigger = () => ({ user: `u${(userCounter += 1)}` });

/** A Temporal server under test: its address, a client, the process whose CPU is its own. */
interface Server {
  name: string;
  address: string;
  client: Client;
  pid: number | undefined;
  close(): Promise<void>;
}

interface WorkerProcess {
  pid: number;
  stop(): Promise<void>;
}

/** The real server on databases of its own in the benchmark's Postgres, as `npm run cluster` starts it. */
async function startClusterServer(env: BenchEnv, scratch: string, say: Say): Promise<Server> {
  const started = Date.now();
  const binaries = await findOrBuildTemporalServer(say);
  const databases = { postgresUrl: env.databaseUrl('postgres'), main: 'wfa_bench_temporal', visibility: 'wfa_bench_temporal_visibility' };
  await setupTemporalDatabases(binaries, databases, say);
  // The frontend's port and the ones after it (see the config file), apart from the tests' server.
  const port = (await isPortTaken(27233)) ? await freePort() : 27233;
  const server = await startTemporalServer(binaries, { ...databases, port, dataDir: join(scratch, 'temporal') }, say);
  try {
    await ensureNamespace(server.address, 'default', 1, say);
    const connection = await Connection.connect({ address: server.address });
    await ensureSearchAttributes(connection, 'default');
    say(`cluster: Temporal server ${TEMPORAL_SERVER_VERSION} on Postgres ready in ${Math.round((Date.now() - started) / 1000)} s`);
    return {
      name: 'cluster',
      address: server.address,
      client: new Client({ connection, namespace: 'default' }),
      pid: server.pid,
      async close() {
        await connection.close().catch(() => undefined);
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** `src/worker/main.ts` as a process of its own on `taskQueue`, started with the product's configuration variables. */
function startWorkerProcess(env: BenchEnv, address: string, taskQueue: string): { child: ChildProcess; process: WorkerProcess } {
  const child = spawn(process.execPath, [entryFile('src/worker/main.ts', true)], {
    cwd: ROOT,
    // Six workers' pools, the server's 30 connections and the bench's own stay within the embedded
    // Postgres's max_connections (and a Postgres from DATABASE_URL at its default of 100). The two
    // servers' runs share one mirror here, which a deployment never does: a worker's reconciler
    // would find the other server's runs missing from its own and settle them FAILED, so it waits
    // an hour, past the benchmark, before its first pass.
    env: {
      ...process.env,
      ...env.environmentFor({ address }, taskQueue),
      DATABASE_POOL_MAX: '5',
      MIRROR_RECONCILE_INTERVAL_MS: '3600000',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { child, process: { pid: child.pid!, stop: () => stopChild(child) } };
}

/** Waits until `count` workers poll `taskQueue` for workflow tasks, as the server sees them. */
async function waitForPollers(server: Server, taskQueue: string, count: number, children: ChildProcess[]): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`a worker on ${taskQueue} exited with code ${dead.exitCode}`);
    const { pollers } = await server.client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if (new Set((pollers ?? []).map((p) => p.identity)).size >= count) return;
    if (Date.now() > deadline) throw new Error(`${count} workers did not poll ${taskQueue} on the ${server.name} within 180 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** CPU of one batch, split by where it went, in ms per run. */
interface CpuSplit {
  server: number;
  workers: number;
  postgres: number;
  client: number;
  machine: number;
}

interface Measured {
  variant: Variant;
  serverPid: number | undefined;
  workerPids: number[];
  rates: number[];
  runs: Timed[];
  cpu: CpuSplit[];
  /** Machine busy time over the batch's wall time and cores: 1 is every core busy all the time. */
  utilisation: number[];
}

const sumCpu = (pids: (number | undefined)[]) => pids.reduce<number>((total, pid) => total + ((pid !== undefined ? processCpuMs(pid) : 0) ?? 0), 0);

/** `rounds` batches per variant, taking turns, with the CPU of each part read around each batch. */
async function measure(measured: Measured[], { rounds, batch, concurrency }: { rounds: number; batch: number; concurrency: number }) {
  const cores = cpus().length;
  for (let round = 0; round < rounds; round += 1) {
    for (const m of rotate(measured, round)) {
      const starts: (() => Promise<Timed>)[] = [];
      for (let i = 0; i < batch; i += 1) starts.push(await m.variant.prepare());
      const before = {
        server: sumCpu([m.serverPid]),
        workers: sumCpu(m.workerPids),
        postgres: processGroupCpuMs().postgres ?? 0,
        client: process.cpuUsage(),
        machine: machineBusyMs() ?? 0,
      };
      const t0 = performance.now();
      m.runs.push(...(await pool(starts, concurrency)));
      const wallMs = performance.now() - t0;
      const client = process.cpuUsage(before.client);
      const machine = (machineBusyMs() ?? 0) - before.machine;
      m.rates.push(batch / (wallMs / 1000));
      m.cpu.push({
        server: (sumCpu([m.serverPid]) - before.server) / batch,
        workers: (sumCpu(m.workerPids) - before.workers) / batch,
        postgres: ((processGroupCpuMs().postgres ?? 0) - before.postgres) / batch,
        client: (client.user + client.system) / 1000 / batch,
        machine: machine / batch,
      });
      m.utilisation.push(machine / (wallMs * cores));
    }
  }
}

const fixed = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));

function describeSplit(m: Measured): string {
  const med = (pick: (c: CpuSplit) => number) => median(m.cpu.map(pick));
  const machine = med((c) => c.machine);
  const part = (label: string, pick: (c: CpuSplit) => number) => `${label} ${fixed(med(pick))} (${Math.round((med(pick) / machine) * 100)}%)`;
  return (
    `${m.variant.name}: ${fixed(machine)} ms of CPU per run on the machine, ` +
    [part('server', (c) => c.server), part('workers', (c) => c.workers), part('Postgres', (c) => c.postgres), part('client', (c) => c.client)].join(', ') +
    `; machine ${Math.round(median(m.utilisation) * 100)}% busy`
  );
}

export const cluster: Benchmark = {
  name: 'cluster',
  summary: 'the Temporal server on Postgres against the dev server, with one worker process and with two',
  workload: () =>
    `a 3-step notification definition (email, Slack, email to loopback peers); ${CLUSTER_SIZES.rounds} batches per variant of ` +
    `${CLUSTER_SIZES.batch} runs with ${CLUSTER_SIZES.concurrency} in flight, the four variants taking turns`,
  async run(env, say) {
    const scratch = await mkdtemp(join(tmpdir(), 'wfa-bench-cluster-'));
    const stops: (() => Promise<unknown>)[] = [() => rm(scratch, { recursive: true, force: true })];
    try {
      const dev: Server = { name: 'dev server', address: env.tuned.address, client: env.tuned.client, pid: env.tuned.server.pid, close: async () => undefined };
      const real = await startClusterServer(env, scratch, say);
      stops.push(() => real.close());
      const def = await install(env.db, THREE_NOTES, THREE_NOTES.key);
      env.clearSinks();

      const measured: Measured[] = [];
      const children: { server: Server; taskQueue: string; count: number; children: ChildProcess[] }[] = [];
      for (const server of [dev, real]) {
        for (const workers of [1, 2]) {
          const taskQueue = `bench-cluster-${server === dev ? 'dev' : 'server'}-${workers}`;
          const started = Array.from({ length: workers }, () => startWorkerProcess(env, server.address, taskQueue));
          for (const s of started) stops.push(() => s.process.stop());
          children.push({ server, taskQueue, count: workers, children: started.map((s) => s.child) });
          const config = env.configFor({ address: server.address }, taskQueue);
          measured.push({
            variant: interpreterVariant(`${server.name}, ${workers === 1 ? '1 worker' : '2 workers'}`, { config, target: { client: server.client } }, env.db, def, trigger),
            serverPid: server.pid,
            workerPids: started.map((s) => s.process.pid),
            rates: [],
            runs: [],
            cpu: [],
            utilisation: [],
          });
        }
      }
      say(`cluster: starting ${children.reduce((n, c) => n + c.count, 0)} worker processes`);
      await Promise.all(children.map((c) => waitForPollers(c.server, c.taskQueue, c.count, c.children)));

      const size = CLUSTER_SIZES;
      say(`cluster: warming up (${size.warmUp} runs each, ${size.concurrency} in flight)`);
      for (const m of measured) await pool(await Promise.all(Array.from({ length: size.warmUp }, () => m.variant.prepare())), size.concurrency);
      say(`cluster: ${size.rounds} batches each of ${size.batch} runs, ${size.concurrency} in flight, taking turns`);
      await measure(measured, size);

      // Every run ended SUCCESS in the mirror, and each sent its three notifications once.
      const total = measured.length * (size.warmUp + size.rounds * size.batch);
      const { rows } = await sql<{ status: string; n: number }>`
        select status, count(*)::int as n from workflow_executions where definition_id = ${def.row.id} group by status`.execute(env.db);
      const succeeded = rows.find((r) => r.status === 'SUCCESS')?.n ?? 0;
      const mails = env.smtp.messages.length;
      const posts = env.slack.requests.filter((r) => r.path.endsWith('chat.postMessage')).length;

      const [dev1, dev2, server1, server2] = measured as [Measured, Measured, Measured, Measured];
      const row = (m: Measured, baseline?: Measured): Row => ({
        variant: m.variant.name,
        samples: m.runs.map((r) => r.ms),
        ...fromRounds({ rates: m.rates }),
        baseline: baseline?.variant.name,
      });
      const p = (m: Measured, q: number) => quantile(m.runs.map((r) => r.ms), q).toFixed(0);
      const table: Table = {
        title: `cluster — ${cluster.summary}`,
        latencyNote: `start → result of each run in the batches, ${size.concurrency} in flight`,
        throughputUnit: `runs/s at ${size.concurrency} in flight`,
        rows: [row(dev1), row(dev2, dev1), row(server1, dev1), row(server2, server1)],
        notes: [
          `throughput: median of ${size.rounds} batches of ${size.batch} runs; ${PAIRED_NOTE}; ` +
            measured.map((m) => `${m.variant.name} ${m.rates.map((r) => r.toFixed(1)).join(', ')}`).join('; '),
          `p50 / p99 start → result: ${measured.map((m) => `${m.variant.name} ${p(m, 0.5)} / ${p(m, 0.99)} ms`).join('; ')}`,
          'where the CPU went, median of the batches (ms per run; each part\'s share of the machine\'s; "client" is this process, starting the runs and waiting on them):',
          ...measured.map(describeSplit),
          `the dev server is one process with SQLite; the cluster is the Temporal server ${TEMPORAL_SERVER_VERSION} (every service in one process) on this Postgres, ` +
            'with four task-queue partitions and the dynamic configuration of deploy/temporal; both hand tasks to workers as fast (transfer polling at 1000/s)',
          `correctness: ${succeeded} of ${total} runs SUCCESS in the mirror (${rows.map((r) => `${r.status} ${r.n}`).join(', ')}); ${mails} mails (${2 * total} expected), ${posts} Slack posts (${total} expected)`,
        ],
      };
      return {
        table,
        targets: [
          {
            goal: 'every run of every variant ends SUCCESS, each notification sent once',
            met: succeeded === total && mails === 2 * total && posts === total,
            measured: `${succeeded}/${total} SUCCESS, ${mails}/${2 * total} mails, ${posts}/${total} posts`,
          },
        ],
      };
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      env.clearSinks();
    }
  },
};
