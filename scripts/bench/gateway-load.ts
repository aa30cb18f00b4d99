/**
 * `gateway-load`: the product as a user runs it, against the same work written
 * by hand, at 100 runs in flight. On a file-backed dev server of its own (as
 * `npm run dev` runs it), one worker process (`src/worker/main.ts`: mirror,
 * reconciler and report refresh on) and one gateway process
 * (`src/gateway/main.ts`); the hand-written workflow runs on a second worker
 * process as its author would run it: the SDK's bundler and worker with
 * their defaults, registering the product's activities
 * (scripts/bench/plain-worker.ts). Each round, in turn:
 *
 * - product: 100 `POST /api/workflows/:key/execute` at once, each a run of a
 *   definition of 5 `http` GET steps (labels, mirror and the address guard
 *   on; the reads sent as local activities first unless
 *   `WORKFLOW_LOCAL_READS=false`);
 * - hand-written: 100 `client.workflow.start` at once of a plain workflow of
 *   the same 5 activities, on its own worker process, no labels;
 * - labelled: the same, started with the product's search attributes, memo
 *   and summaries, so their cost shows apart from the rest;
 * - plain: the workflow as its author would write it with no product at all:
 *   5 GETs with an activity of its own (`fetch`, no checks), no summaries, no
 *   labels, on the same worker process. This is the comparison a user makes.
 *
 * A batch's throughput is its 100 runs over the time from its first start to
 * its last result, each result awaited with the raw client (`result()`), the
 * product's too. With `BENCH_WAIT=api` the product's are awaited as its API's
 * users would, `GET /api/executions/{id}?wait=30s`, so the gateway's share of
 * a run then includes that request; with `BENCH_WAIT=poll`, by reading each
 * run every 500 ms without `wait`, as a client that does not know it would.
 * `BENCH_VARIANTS` narrows the variants that take turns (see chosenVariants).
 * Then one run at a time of 40 sequential steps, each way in turn, timed by
 * the server's clock. Then `accumulate` more runs through the gateway, and
 * the same again, so a drift with the runs the stack has done shows as the
 * second phase's figures against the first's.
 *
 * `gateway-load-cluster` is the same on the real Temporal server on Postgres,
 * as `npm run cluster` runs it, its two databases made afresh in the
 * benchmark's Postgres beside the product's; Postgres's CPU is then told
 * apart by database, Temporal's store from the product's mirror.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { build } from 'esbuild';
import { sql } from 'kysely';
import proto from '@temporalio/proto';
import { createApiKey } from '../../db/api-keys';
import { findDefinition } from '../../db/definitions';
import { interpreterStartOptions } from '../../src/executions/start';
import { type DefinitionInput, parseDefinition } from '../../src/shared/definition';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { buildWorkflowBundle } from '../../src/worker/create-worker';
import { entryFile } from '../../src/paths';
import { NODE_PROCESS_BUILD } from '../lib/compile';
import { dropDatabase } from '../lib/postgres';
import { freePort } from '../lib/ports';
import { stopChild } from '../lib/supervisor';
import { type Say, startTemporal } from '../lib/temporal';
import { ensureNamespace, findOrBuildTemporalServer, freeServerPort, setupTemporalDatabases, startTemporalServer } from '../lib/temporal-server';
import type { Benchmark, RunOptions } from './benchmarks';
import type { BenchEnv } from './env';
import { countHistory, describeHistory, describePhases, phaseTimes, pool, processCpuMs, processGroupCpuMs, until } from './measure';
import { median } from './stats';
import { isTerminal } from '../../src/shared/status';
import type { SequentialHttpInput } from './hand-written';

const { temporal } = proto;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TASK_QUEUE = 'bench-gateway-load';
const HAND_QUEUE = 'bench-gateway-load-hand-written';

/** Workload of the default run; `--scale` shrinks `accumulate`. */
export const GATEWAY_LOAD_SIZES = {
  inFlight: 100,
  steps: 5,
  /** Batches of each variant per phase, the two taking turns. */
  rounds: 3,
  sequentialSteps: 40,
  /** Runs of 40 steps each way per phase, one at a time, in turn. */
  sequentialRuns: 8,
  /** Runs through the gateway between the two phases (times `--scale`). */
  accumulate: 10_000,
  targets: { throughput: 0.9, sequential: 1.1 },
} as const;

const httpDefinition = (key: string, url: string, steps: number): DefinitionInput => ({
  key,
  name: `Benchmark: ${steps} http steps through the gateway`,
  category: 'benchmark',
  steps: Array.from({ length: steps }, (_, i) => ({ id: `call${i + 1}`, type: 'http' as const, url: `${url}?step=${i + 1}` })),
});

/** Processes whose CPU time a batch is charged with, in ms so far. */
interface CpuReading {
  worker: number;
  gateway: number;
  temporal: number;
  /** All of Postgres: the product's database and, on the real server, Temporal's store. */
  postgres: number;
  /** Of {@link postgres}, the backends serving Temporal's own databases (the real server only; 0 on the dev server). */
  store: number;
  /** Of {@link postgres}, the backends serving the product's database (the mirror, keys, definitions). */
  productDatabase: number;
  bench: number;
}

/** Which Temporal server the benchmark runs on. */
type ServerKind = 'dev' | 'cluster';

interface LoadServer {
  address: string;
  pid: number | undefined;
  /** The databases of Temporal's own store in the benchmark's Postgres; none for the dev server (SQLite). */
  storeDatabases: string[];
  stop(): Promise<void>;
}

/**
 * The dev server as `npm run dev` runs it (tuned, its state in a SQLite
 * file), or the real server as `npm run cluster` runs it, on two databases of
 * its own made afresh in the benchmark's Postgres.
 */
async function startLoadServer(kind: ServerKind, env: BenchEnv, scratch: string, say: Say): Promise<LoadServer> {
  if (kind === 'dev') {
    const dev = await startTemporal({ port: await freePort(), headless: true, dbFile: join(scratch, 'temporal.db') }, say);
    return { address: dev.address, pid: dev.pid, storeDatabases: [], stop: () => dev.stop() };
  }
  const binaries = await findOrBuildTemporalServer(say);
  const databases = { postgresUrl: env.databaseUrl('postgres'), main: 'wfa_bench_load_temporal', visibility: 'wfa_bench_load_temporal_visibility' };
  // A fresh store, so the first phase is a fresh stack's and the second counts only this run's runs.
  for (const database of [databases.main, databases.visibility]) await dropDatabase(env.databaseUrl(database));
  await setupTemporalDatabases(binaries, databases, say);
  const server = await startTemporalServer(binaries, { ...databases, port: await freeServerPort(), dataDir: join(scratch, 'temporal') }, say);
  try {
    await ensureNamespace(server.address, 'default', 1, say);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { address: server.address, pid: server.pid, storeDatabases: [databases.main, databases.visibility], stop: () => server.stop() };
}

/** How the product's runs are awaited: `api` (`?wait=30s`) or `poll` (reads without it) through the gateway; else with the raw client. */
const PRODUCT_WAIT: 'result' | 'api' | 'poll' = process.env.BENCH_WAIT === 'api' || process.env.BENCH_WAIT === 'poll' ? process.env.BENCH_WAIT : 'result';
/** How often a polling client (`BENCH_WAIT=poll`) reads a run again. */
const POLL_INTERVAL_MS = 500;

/** What a batch runs, in the order of a round (see the file's comment). */
const ALL_VARIANTS = ['product', 'hand-written', 'labelled', 'plain'] as const;
type Variant = (typeof ALL_VARIANTS)[number];

/**
 * The variants this run takes turns with: all four, or those `BENCH_VARIANTS`
 * names (comma-separated, product and hand-written always among them), so
 * `BENCH_VARIANTS=product,hand-written` alternates the two alone, each worker
 * idle for one batch at a time.
 */
function chosenVariants(names: string | undefined): readonly Variant[] {
  if (!names) return ALL_VARIANTS;
  const asked = names.split(',').map((n) => n.trim());
  const unknown = asked.filter((n) => !(ALL_VARIANTS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`BENCH_VARIANTS: unknown ${unknown.join(', ')}; the variants are ${ALL_VARIANTS.join(', ')}`);
  return ALL_VARIANTS.filter((v) => v === 'product' || v === 'hand-written' || asked.includes(v));
}
const VARIANTS = chosenVariants(process.env.BENCH_VARIANTS);

interface Batch {
  variant: Variant;
  runsPerSecond: number;
  /** From the first start call to the last start's answer, ms. */
  startMs: number;
  p50Ms: number;
  cpuPerRun: CpuReading;
  /** One run of the batch (the last to finish): its events, and where its time went. */
  sample: string;
}

interface Phase {
  label: string;
  batches: Batch[];
  sequential: { product: number[]; handWritten: number[] };
}

/**
 * Starts one of the benchmark's processes (the two workers, the gateway).
 * With `BENCH_PROFILE_DIR` set, each writes V8 CPU profiles there when it
 * stops, one per thread (open them in Chrome's DevTools, or sum their self
 * time by function), to see where the product's time goes.
 */
function spawnMeasured(file: string, environment: Record<string, string>, onExit: (code: number | null) => void): ChildProcess {
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, file], {
    cwd: ROOT,
    env: { ...process.env, ...environment },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.once('exit', onExit);
  return child;
}

/** The plain worker compiled beside the product's (dist/), so its packages resolve from node_modules; answers its file. */
async function compilePlainWorker(): Promise<string> {
  const outfile = join(ROOT, 'dist', 'bench', 'plain-worker.js');
  await build({ ...NODE_PROCESS_BUILD, entryPoints: [fileURLToPath(new URL('./plain-worker.ts', import.meta.url))], outfile });
  return outfile;
}

const ratio = (a: number, b: number) => a / b;
const x2 = (v: number) => `×${v.toFixed(2)}`;
const f0 = (v: number) => v.toFixed(0);
const f1 = (v: number) => v.toFixed(1);

const workload = (options: RunOptions) => {
  const s = GATEWAY_LOAD_SIZES;
  return (
    `per phase: ${s.rounds} rounds of ${s.inFlight} runs of ${s.steps} http steps by each of ${VARIANTS.length} variants, taking turns; ${s.sequentialRuns} runs of ` +
    `${s.sequentialSteps} sequential steps each way; phases: fresh, then after ${Math.round(s.accumulate * options.scale)} more runs through the gateway`
  );
};

export const gatewayLoad: Benchmark = {
  name: 'gateway-load',
  summary:
    'runs started through the gateway at 100 in flight (worker and gateway as processes, file-backed dev server) vs a hand-written workflow of the same activities started with the raw client, fresh and after many runs',
  workload,
  async run(env, say, options) {
    return runGatewayLoad(env, say, options, 'dev');
  },
};

export const gatewayLoadCluster: Benchmark = {
  name: 'gateway-load-cluster',
  summary: "gateway-load on the real Temporal server on Postgres (as `npm run cluster` runs it), Postgres's CPU told apart: Temporal's store, the product's mirror",
  workload,
  async run(env, say, options) {
    return runGatewayLoad(env, say, options, 'cluster');
  },
};

async function runGatewayLoad(env: BenchEnv, say: Say, options: RunOptions, kind: ServerKind) {
  const size = GATEWAY_LOAD_SIZES;
  const accumulate = Math.round(size.accumulate * options.scale);
  const scratch = await mkdtemp(join(tmpdir(), 'wfa-gateway-load-'));
  const stops: (() => Promise<unknown>)[] = [() => rm(scratch, { recursive: true, force: true })];
  let failed: string | undefined;
  const onExit = (name: string) => (code: number | null) => {
    failed ??= `${name} exited with code ${code}`;
  };
  try {
    const server = await startLoadServer(kind, env, scratch, say);
    stops.push(() => server.stop());
    const connection = await Connection.connect({ address: server.address });
    stops.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const client = new Client({ connection, namespace: 'default' });

    // Each side runs as it would be deployed: the product's workflow code alone on its worker, and the
    // hand-written workflow on a plain SDK worker of its own (idle while the product's batches run,
    // and the other way round), with the same activities.
    const productBundle = join(scratch, 'product.js');
    await writeFile(productBundle, await buildWorkflowBundle());
    const gatewayPort = await freePort();
    const environment = {
      ...env.environmentFor(server, TASK_QUEUE),
      WORKFLOW_BUNDLE_PATH: productBundle,
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    };
    const worker = spawnMeasured(entryFile('src/worker/main.ts', true), environment, onExit('the worker'));
    stops.push(() => stopChild(worker));
    const handWorker = spawnMeasured(
      await compilePlainWorker(),
      {
        ...environment,
        TEMPORAL_TASK_QUEUE: HAND_QUEUE,
        HAND_WRITTEN_WORKFLOWS: fileURLToPath(new URL('./hand-written.ts', import.meta.url)),
      },
      onExit('the hand-written workflow\'s worker'),
    );
    stops.push(() => stopChild(handWorker));
    const gatewayProcess = spawnMeasured(entryFile('src/gateway/main.ts', true), { ...environment, PORT: String(gatewayPort) }, onExit('the gateway'));
    stops.push(() => stopChild(gatewayProcess));
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    // Definitions need an admin; every run is started with an operator's key, as an integration would.
    const admin = await createApiKey(env.db, { name: `gateway-load admin ${randomUUID().slice(0, 8)}`, role: 'admin' });
    const { key } = await createApiKey(env.db, { name: `gateway-load ${randomUUID().slice(0, 8)}`, role: 'operator' });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    for (const queue of [TASK_QUEUE, HAND_QUEUE]) {
      await until(`a worker polling ${queue}`, async () => {
        if (failed) throw new Error(failed);
        const { pollers } = await client.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name: queue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return (pollers ?? []).length > 0;
      });
    }
    await until('the gateway answering', async () => {
      if (failed) throw new Error(failed);
      return (await fetch(`${gateway}/readyz`)).ok;
    });

    const url = `${env.api.url}/ping`;
    const config = env.configFor(server, TASK_QUEUE);
    const defaultStepTimeoutSeconds = config.workflow.defaultTimeoutSeconds;
    const define = async (definition: DefinitionInput) => {
      const res = await fetch(`${gateway}/api/workflows`, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${admin.key}` },
        body: JSON.stringify(definition),
      });
      if (res.status !== 201) throw new Error(`creating ${definition.key} answered ${res.status}: ${await res.text()}`);
    };
    const suffix = randomUUID().slice(0, 8);
    const fiveKey = `bench-load-5-${suffix}`;
    const fortyKey = `bench-load-40-${suffix}`;
    await define(httpDefinition(fiveKey, url, size.steps));
    await define(httpDefinition(fortyKey, url, size.sequentialSteps));

    const viaGateway = async (definitionKey: string): Promise<string> => {
      const res = await fetch(`${gateway}/api/workflows/${definitionKey}/execute`, { method: 'POST', headers, body: JSON.stringify({ triggerData: {} }) });
      if (res.status !== 202) throw new Error(`starting ${definitionKey} answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { workflowId: string }).workflowId;
    };
    /** A product run's end as its API's users wait for it (BENCH_WAIT): the run read by its workflow id, with `wait` or again and again. */
    const endThroughGateway = async (workflowId: string) => {
      const polling = PRODUCT_WAIT === 'poll';
      for (;;) {
        const res = await fetch(`${gateway}/api/executions/${workflowId}${polling ? '' : '?wait=30s'}`, { headers });
        if (res.status !== 200) throw new Error(`waiting for ${workflowId} answered ${res.status}: ${await res.text()}`);
        if (isTerminal(((await res.json()) as { status: string }).status)) return;
        // A client that reads again and again, as one without `wait` would.
        if (polling) await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
    };
    // The product's labels (search attributes, memo, summaries) of a run of the 5-step definition, for the labelled variant.
    const fiveRow = await findDefinition(env.db, fiveKey);
    if (!fiveRow) throw new Error(`definition ${fiveKey} not found after it was created`);
    const fiveDocument = parseDefinition(httpDefinition(fiveKey, url, size.steps));
    if (!fiveDocument.ok) throw new Error(`definition ${fiveKey} is invalid`);
    const productLabels = (workflowId: string) => {
      const run = { definition: fiveRow, version: fiveRow.current_version, document: fiveDocument.definition, executionId: randomUUID(), workflowId };
      const { typedSearchAttributes, memo, staticSummary, staticDetails } = interpreterStartOptions(config, { ...run, triggerType: 'manual', triggerData: {} });
      return { typedSearchAttributes, memo, staticSummary, staticDetails };
    };
    const byHand = async (steps: number, labelled = false): Promise<string> => {
      const workflowId = `bench-load-hand-${randomUUID()}`;
      const input: SequentialHttpInput = { url, steps, defaultStepTimeoutSeconds };
      await client.workflow.start('handWrittenSequentialHttp', { taskQueue: HAND_QUEUE, workflowId, args: [input], ...(labelled ? productLabels(workflowId) : {}) });
      return workflowId;
    };
    const resultOf = async (workflowId: string) => {
      await client.workflow.getHandle(workflowId).result();
    };

    // Postgres's backends by the database they serve, so its CPU is told apart: each backend alive at a batch's end
    // is charged with its time since the batch began (all of it, if it began since). One that ended meanwhile stays in the total.
    const productDatabase = decodeURIComponent(new URL(config.database.url).pathname.slice(1));
    type Backend = { of: 'store' | 'productDatabase'; cpuMs: number };
    const backends = async (): Promise<Map<number, Backend>> => {
      const { rows } = await sql<{ pid: number; datname: string }>`
        select pid, datname from pg_stat_activity where datname in (${sql.join([...server.storeDatabases, productDatabase])})`.execute(env.db);
      return new Map(rows.map((r) => [r.pid, { of: r.datname === productDatabase ? 'productDatabase' : 'store', cpuMs: processCpuMs(r.pid) ?? 0 }]));
    };
    const readCpu = async (): Promise<CpuReading & { backends: Map<number, Backend> }> => {
      const groups = processGroupCpuMs();
      const own = process.cpuUsage();
      return {
        worker: (processCpuMs(worker.pid!) ?? 0) + (processCpuMs(handWorker.pid!) ?? 0),
        gateway: processCpuMs(gatewayProcess.pid!) ?? 0,
        temporal: server.pid === undefined ? (groups.temporal ?? 0) : (processCpuMs(server.pid) ?? 0),
        postgres: groups.postgres ?? 0,
        store: 0,
        productDatabase: 0,
        bench: (own.user + own.system) / 1000,
        backends: await backends(),
      };
    };

    const plain = async (steps: number): Promise<string> => {
      const workflowId = `bench-load-plain-${randomUUID()}`;
      await client.workflow.start('plainSequentialHttp', { taskQueue: HAND_QUEUE, workflowId, args: [url, steps] });
      return workflowId;
    };
    const batch = async (variant: Batch['variant']): Promise<Batch> => {
      const start =
        variant === 'product' ? () => viaGateway(fiveKey) : variant === 'plain' ? () => plain(size.steps) : () => byHand(size.steps, variant === 'labelled');
      const cpu0 = await readCpu();
      const t0 = performance.now();
      let lastStarted = t0;
      let lastId = '';
      const ends = await Promise.all(
        Array.from({ length: size.inFlight }, async () => {
          const id = await start();
          lastStarted = Math.max(lastStarted, performance.now());
          await (variant === 'product' && PRODUCT_WAIT !== 'result' ? endThroughGateway(id) : resultOf(id));
          lastId = id;
          return performance.now() - t0;
        }),
      );
      const cpu1 = await readCpu();
      const wall = Math.max(...ends);
      for (const [pid, { of, cpuMs }] of cpu1.backends) cpu1[of] += cpuMs - (cpu0.backends.get(pid)?.cpuMs ?? 0);
      const sample = `${describeHistory(await countHistory(client, lastId))}; ${describePhases(await phaseTimes(client, lastId))}`;
      const per = (k: keyof CpuReading) => (cpu1[k] - cpu0[k]) / size.inFlight;
      return {
        variant,
        runsPerSecond: size.inFlight / (wall / 1000),
        startMs: lastStarted - t0,
        p50Ms: median(ends),
        cpuPerRun: { worker: per('worker'), gateway: per('gateway'), temporal: per('temporal'), postgres: per('postgres'), store: cpu1.store / size.inFlight, productDatabase: cpu1.productDatabase / size.inFlight, bench: per('bench') },
        sample,
      };
    };

    const serverMs = async (workflowId: string) => {
      const { startTime, closeTime } = await client.workflow.getHandle(workflowId).describe();
      return closeTime!.getTime() - startTime.getTime();
    };

    const phase = async (label: string): Promise<Phase> => {
      const result: Phase = { label, batches: [], sequential: { product: [], handWritten: [] } };
      for (let round = 0; round < size.rounds; round += 1) {
        const order = round % 2 === 0 ? VARIANTS : VARIANTS.toReversed();
        for (const variant of order) {
          const b = await batch(variant);
          result.batches.push(b);
          say(`gateway-load ${label}, round ${round + 1}: ${variant} ${f1(b.runsPerSecond)} runs/s (starts took ${f0(b.startMs)} ms)`);
        }
      }
      for (let i = 0; i < size.sequentialRuns; i += 1) {
        const pairs = i % 2 === 0 ? (['product', 'hand'] as const) : (['hand', 'product'] as const);
        for (const which of pairs) {
          const id = which === 'product' ? await viaGateway(fortyKey) : await byHand(size.sequentialSteps);
          await resultOf(id);
          (which === 'product' ? result.sequential.product : result.sequential.handWritten).push(await serverMs(id));
        }
      }
      say(`gateway-load ${label}: 40 steps, median ${f0(median(result.sequential.product))} ms product, ${f0(median(result.sequential.handWritten))} ms hand-written`);
      return result;
    };

    say('gateway-load: warming up (one batch each way)');
    await batch('product');
    await batch('hand-written');
    const phases = [await phase('fresh')];
    if (accumulate > 0) {
      say(`gateway-load: ${accumulate} more runs through the gateway, ${size.inFlight} in flight`);
      const t0 = Date.now();
      await pool(
        Array.from({ length: accumulate }, () => async () => resultOf(await viaGateway(fiveKey))),
        size.inFlight,
      );
      say(`gateway-load: accumulated in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      phases.push(await phase(`after ${accumulate} more`));
    }
    if (failed) throw new Error(failed);
    return describe(phases, accumulate, config.workflow.queueConcurrency, kind);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

/** The product's throughput against the baseline's, round by round. */
function roundRatios(batches: Batch[], baseline: 'hand-written' | 'plain' = 'hand-written'): number[] {
  const product = batches.filter((b) => b.variant === 'product');
  const base = batches.filter((b) => b.variant === baseline);
  return base.length === 0 ? [] : product.map((p, i) => ratio(p.runsPerSecond, base[i]!.runsPerSecond));
}

function medianCpu(batches: Batch[]): CpuReading {
  const keys: (keyof CpuReading)[] = ['worker', 'gateway', 'temporal', 'postgres', 'store', 'productDatabase', 'bench'];
  return Object.fromEntries(keys.map((k) => [k, median(batches.map((b) => b.cpuPerRun[k]))])) as unknown as CpuReading;
}

/** The columns of the benchmark's table; a 40-step row fills the first five. */
const COLUMNS = [
  'phase',
  'round',
  'product runs/s',
  'hand-written runs/s',
  'ratio',
  'labelled runs/s',
  'labelled ratio',
  'plain runs/s',
  'ratio to plain',
  'product p50 ms',
  'hand-written p50 ms',
];

function describe(phases: Phase[], accumulate: number, activitySlots: number, kind: ServerKind) {
  const size = GATEWAY_LOAD_SIZES;
  const rows: string[][] = [];
  for (const p of phases) {
    const ratios = roundRatios(p.batches);
    const plainRatios = roundRatios(p.batches, 'plain');
    for (let round = 0; round < size.rounds; round += 1) {
      const product = p.batches.filter((b) => b.variant === 'product')[round]!;
      const hand = p.batches.filter((b) => b.variant === 'hand-written')[round]!;
      const labelled = p.batches.filter((b) => b.variant === 'labelled')[round];
      const plain = p.batches.filter((b) => b.variant === 'plain')[round];
      rows.push([
        p.label,
        String(round + 1),
        f1(product.runsPerSecond),
        f1(hand.runsPerSecond),
        x2(ratios[round]!),
        labelled ? f1(labelled.runsPerSecond) : '–',
        labelled ? x2(labelled.runsPerSecond / hand.runsPerSecond) : '–',
        plain ? f1(plain.runsPerSecond) : '–',
        plain ? x2(plainRatios[round]!) : '–',
        f0(product.p50Ms),
        f0(hand.p50Ms),
      ]);
    }
    const seq = ratio(median(p.sequential.product), median(p.sequential.handWritten));
    const sequentialRow = [p.label, `40 steps (median of ${p.sequential.product.length})`, `${f0(median(p.sequential.product))} ms`, `${f0(median(p.sequential.handWritten))} ms`, x2(seq)];
    rows.push([...sequentialRow, ...Array<string>(COLUMNS.length - sequentialRow.length).fill('')]);
  }
  const cpuRows = phases.flatMap((p) =>
    VARIANTS.map((variant) => {
      const c = medianCpu(p.batches.filter((b) => b.variant === variant));
      const total = c.worker + c.gateway + c.temporal + c.postgres + c.bench;
      const store = kind === 'cluster' ? `Temporal's store ${f1(c.store)}, ` : '';
      const split = ` (${store}the product's database ${f1(c.productDatabase)}, the rest ${f1(c.postgres - c.store - c.productDatabase)})`;
      return `${p.label}, ${variant}: ${f1(total)} ms of CPU per run — workers (both processes) ${f1(c.worker)}, gateway ${f1(c.gateway)}, Temporal ${f1(c.temporal)}, Postgres ${f1(c.postgres)}${split}, the bench's client ${f1(c.bench)}`;
    }),
  );
  const allRatios = phases.flatMap((p) => roundRatios(p.batches));
  const allPlainRatios = phases.flatMap((p) => roundRatios(p.batches, 'plain'));
  const worstRound = Math.min(...allRatios);
  const seqRatios = phases.map((p) => ratio(median(p.sequential.product), median(p.sequential.handWritten)));
  const worstSeq = Math.max(...seqRatios);
  // A variant's median throughput after the runs accumulated, against fresh.
  const throughput = (p: Phase, variant: Variant) => median(p.batches.filter((b) => b.variant === variant).map((b) => b.runsPerSecond));
  const driftOf = (variant: Variant) => (phases.length > 1 ? ratio(throughput(phases[1]!, variant), throughput(phases[0]!, variant)) : undefined);
  const drift = driftOf('product');
  const handDrift = driftOf('hand-written');
  return {
    table: {
      title: `${kind === 'dev' ? 'gateway-load' : 'gateway-load-cluster'}: ${size.inFlight} runs of ${size.steps} http steps in flight on the ${kind === 'dev' ? 'dev server (SQLite file)' : 'real Temporal server on Postgres'}, product through the gateway vs hand-written with the raw client`,
      latencyNote: 'start → result of each run, in the batch',
      throughputUnit: 'runs/s',
      rows: [],
      counts: {
        headers: COLUMNS,
        rows,
      },
      notes: [
        `a round: one batch of each variant (${VARIANTS.join(', ')}${VARIANTS.length < ALL_VARIANTS.length ? ', as BENCH_VARIANTS chose' : ''}), the order reversed every other round; a batch is 100 runs started at once, its throughput those runs over the time from its first start to its last result`,
        ...(VARIANTS.includes('labelled')
          ? ["labelled: the hand-written workflow started with the product's labels (search attributes, memo, summaries, as src/executions/start.ts sets them), to tell their cost apart; its ratio is against the hand-written one without them"]
          : []),
        ...(VARIANTS.includes('plain')
          ? ["plain: the 5 GETs as a workflow's author would write them with no product: an activity of their own (scripts/bench/plain-activities.ts, `fetch` and no checks), no activity summaries, no labels, on the hand-written workflow's worker; the product's ratio to it is what a user comparing the two sees"]
          : []),
        PRODUCT_WAIT === 'api'
          ? "the product's runs awaited through the gateway (`GET /api/executions/{id}?wait=30s`, BENCH_WAIT=api), the others' with the raw client"
          : PRODUCT_WAIT === 'poll'
            ? `the product's runs awaited by reading them through the gateway every ${POLL_INTERVAL_MS} ms, without \`wait\` (BENCH_WAIT=poll), the others' with the raw client`
            : "every run's result awaited with the raw client, the product's too (BENCH_WAIT=api awaits the product's through the gateway)",
        process.env.WORKFLOW_LOCAL_READS === 'false'
          ? "the product's GETs as ordinary activities (WORKFLOW_LOCAL_READS=false)"
          : "the product's GETs each sent first as a local activity (WORKFLOW_LOCAL_READS, on by default; docs/USER_GUIDE.md, reads as local activities), the hand-written workflow's as ordinary activities; `WORKFLOW_LOCAL_READS=false` compares ordinary activities on both sides",
        '40 steps: one run at a time, start → close in the server\'s clock, product and hand-written in turn',
        `workers: the product's (src/worker/main.ts, with its settings: workflow code called with no vm deadline, ${activitySlots} activity slots); the hand-written workflow's, a plain SDK worker (scripts/bench/plain-worker.ts: the SDK's bundler and defaults, a 5 s vm deadline on each call into workflow code, 100 activity slots) registering the product's activities`,
        ...cpuRows,
        ...phases.flatMap((p) =>
          VARIANTS.map((variant) => `${p.label}, ${variant}, the last run of round 1: ${p.batches.find((b) => b.variant === variant)!.sample}`),
        ),
        ...(drift === undefined
          ? []
          : [`throughput after ${accumulate} more runs, against fresh (median of the rounds): product ${x2(drift)}, hand-written on the same server ${x2(handDrift!)}`]),
      ],
    },
    targets: [
      {
        goal: `product through the gateway at ${size.inFlight} in flight at least ×${size.targets.throughput.toFixed(2)} of hand-written in every round${phases.length > 1 ? ', fresh and after many runs' : ''}`,
        met: worstRound >= size.targets.throughput,
        measured: `rounds ${allRatios.map(x2).join(', ')}`,
      },
      ...(VARIANTS.includes('plain')
        ? [
            {
              goal: `product through the gateway at ${size.inFlight} in flight at least ×${size.targets.throughput.toFixed(2)} of the plain workflow in every round${phases.length > 1 ? ', fresh and after many runs' : ''}`,
              met: Math.min(...allPlainRatios) >= size.targets.throughput,
              measured: `rounds ${allPlainRatios.map(x2).join(', ')}`,
            },
          ]
        : []),
      {
        goal: `40 sequential http steps at most ×${size.targets.sequential.toFixed(2)} of hand-written`,
        met: worstSeq <= size.targets.sequential,
        measured: phases.map((p, i) => `${p.label} ${x2(seqRatios[i]!)}`).join(', '),
      },
      ...(drift === undefined
        ? []
        : [{ goal: 'product throughput after many runs within 10% of fresh', met: drift >= 0.9, measured: `${x2(drift)} (median product throughput of the rounds, after against fresh; the hand-written workflow's ${x2(handDrift!)})` }]),
    ],
  };
}
