/**
 * The benchmarks: each brings up its workers, measures its variants side by
 * side, and answers its table and the targets it checks.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { createActivities } from '../../activities';
import { createDefinition } from '../../db/definitions';
import { findExecution, insertExecution } from '../../db/executions';
import type { Database, DefinitionRow } from '../../db/schema';
import { type Definition, type DefinitionInput, parseDefinition } from '../../src/shared/definition';
import { INTERPRETER_WORKFLOW } from '../../src/shared/run';
import { interpreterStartOptions, mirrorRow } from '../../src/executions/start';
import { workflowIdFor } from '../../src/temporal/client';
import { EncryptionCodec, encryptionKeys } from '../../src/temporal/encryption';
import type { Payload } from '@temporalio/common';
import type { Say } from '../lib/temporal';
import { type BenchEnv, type RunningWorker, SERVER_SETUPS, type ServerSetup } from './env';
import {
  batches,
  countHistory,
  describeCpu,
  describeHistory,
  describePhases,
  oneAtATime,
  phaseTimes,
  timed,
  type Timed,
  type Variant,
  warmUp,
} from './measure';
import { fromRounds, median, PAIRED_NOTE, quantile, type Row, type Table, throughputRatio } from './stats';
import { expressions } from './expressions';
import { gateway } from './gateway';
import { gatewayLoad } from './gateway-load';
import { hostile } from './hostile';
import { mirrorScale } from './mirror-scale';
import { cluster } from './cluster';
import { outage } from './outage';
import { scale } from './scale';
import type { OrderShippedInput, SequentialHttpInput } from './workflows';

export interface Target {
  /** The target as the issue states it. */
  goal: string;
  met: boolean;
  /** What was measured against it. */
  measured: string;
}

export interface Outcome {
  table: Table;
  targets: Target[];
  /** Markdown for the record only, after the notes (e.g. query plans): too long for the terminal. */
  details?: string | undefined;
}

/** Options of one `npm run bench` invocation. */
export interface RunOptions {
  /** Fraction of the full generated data set, for benchmarks that generate one (`--scale`). @default 1 */
  scale: number;
}

export interface Benchmark {
  name: string;
  summary: string;
  /** The workload in a line, for the record's table of workloads. */
  workload?: (options: RunOptions) => string;
  run(env: BenchEnv, say: Say, options: RunOptions): Promise<Outcome>;
}

/** Workload sizes of the default run: enough runs for a stable median, the whole run within minutes on 2 cores. */
export const SIZES = {
  interpreter: { warmUp: 5, oneAtATime: 40, rounds: 6, batch: 40, concurrency: 10 },
  sequential40: { steps: 40, warmUp: 1, oneAtATime: 6, setups: ['tuned', 'partitions', 'slowTransfer'] as ServerSetup[] },
  mirror: { warmUp: 5, oneAtATime: 20, rounds: 6, batch: 40, concurrency: 10 },
  /** More batches than the interpreter's: the codec's cost is far below the spread of six. */
  encryption: { warmUp: 5, oneAtATime: 40, rounds: 16, batch: 40, concurrency: 10 },
} as const;

// --- the five-step definition --------------------------------------------------------------

const ORDER_SHIPPED: DefinitionInput = {
  key: 'bench-order-shipped',
  name: 'Benchmark: order shipped',
  category: 'benchmark',
  steps: [
    { id: 'greeting', type: 'set', values: { who: '{{ input.customer.name }}', total: '{{ input.total }}' } },
    {
      id: 'bigOrder',
      type: 'condition',
      condition: 'vars.total > 100',
      then: [{ id: 'vip', type: 'set', values: { tier: 'vip' } }],
      else: [{ id: 'regular', type: 'set', values: { tier: 'regular' } }],
    },
    {
      id: 'mail',
      type: 'email',
      to: '{{ input.customer.email }}',
      subject: 'Order {{ input.orderId }} shipped',
      text: 'Hello {{ vars.who }}, total {{ vars.total }} ({{ vars.tier }}).',
    },
    { id: 'notify', type: 'slack', channel: '{{ input.channel }}', text: 'Order {{ input.orderId }} shipped to {{ vars.who }}' },
    { id: 'done', type: 'set', values: { notified: true, messageId: '{{ steps.mail.output.messageId }}' } },
  ],
};

let orderCounter = 0;
function orderTrigger() {
  orderCounter += 1;
  return { orderId: `A-${orderCounter}`, customer: { name: 'Ada', email: 'ada@example.test' }, total: 180, channel: '#orders' };
}

export interface Installed {
  row: DefinitionRow;
  document: Definition;
}

export async function install(db: Kysely<Database>, input: DefinitionInput, key: string): Promise<Installed> {
  const parsed = parseDefinition({ ...input, key });
  if (!parsed.ok) throw new Error(`benchmark definition ${key} is invalid: ${JSON.stringify(parsed.problems)}`);
  const row = await createDefinition(db, parsed.definition);
  return { row, document: parsed.definition };
}

/**
 * The generic workflow as the product starts it (src/executions/start.ts): the
 * mirror row first (prepared, not timed), then the start with the same search
 * attributes and memo, timed from the start call to the result.
 */
export function interpreterVariant(
  name: string,
  worker: Pick<RunningWorker, 'config'> & { target: Pick<RunningWorker['target'], 'client'> },
  db: Kysely<Database>,
  def: Installed,
  trigger: () => Record<string, unknown>,
): Variant {
  const { row, document } = def;
  return {
    name,
    async prepare() {
      const executionId = randomUUID();
      const workflowId = workflowIdFor(row.key, executionId);
      const triggerData = trigger();
      await insertExecution(db, mirrorRow(row, row.current_version, executionId, workflowId, 'manual', triggerData));
      const run = { definition: row, version: row.current_version, document, executionId, workflowId, triggerType: 'manual' as const, triggerData };
      return () => timed(workflowId, () => worker.target.client.workflow.start(INTERPRETER_WORKFLOW, interpreterStartOptions(worker.config, run)));
    },
  };
}

/** A hand-written workflow from scripts/bench/workflows.ts, started plainly (no search attributes, no memo). */
function handWrittenVariant(name: string, worker: RunningWorker, workflowType: string, args: () => unknown): Variant {
  return {
    name,
    async prepare() {
      const workflowId = `bench-hand-${randomUUID()}`;
      const input = args();
      return () => timed(workflowId, () => worker.target.client.workflow.start(workflowType, { taskQueue: worker.taskQueue, workflowId, args: [input] }));
    },
  };
}

/**
 * The hand-written workflow started with what the product puts on every
 * start of the interpreter (search attributes, memo, summaries): so the gap
 * to the interpreter without what any well-labelled run costs the server.
 */
function handWrittenLabelledVariant(name: string, worker: RunningWorker, workflowType: string, args: () => unknown, def: Installed): Variant {
  const { row, document } = def;
  return {
    name,
    async prepare() {
      const executionId = randomUUID();
      const workflowId = `bench-hand-${executionId}`;
      const input = args();
      const run = { definition: row, version: row.current_version, document, executionId, workflowId, triggerType: 'manual' as const, triggerData: orderTrigger() };
      const { typedSearchAttributes, memo, staticSummary, staticDetails } = interpreterStartOptions(worker.config, run);
      return () =>
        timed(workflowId, () =>
          worker.target.client.workflow.start(workflowType, {
            taskQueue: worker.taskQueue,
            workflowId,
            args: [input],
            typedSearchAttributes,
            memo,
            staticSummary,
            staticDetails,
          }),
        );
    },
  };
}

/**
 * The product's worker on `taskQueue`, and the same worker on `<taskQueue>-unmirrored` with the
 * mirror's write (the recordRunEvents activity, which the worker's final write calls too) a no-op.
 */
function startWorkerPair(env: BenchEnv, taskQueue: string): Promise<[RunningWorker, RunningWorker]> {
  return Promise.all([
    env.startWorker({ target: env.tuned, taskQueue }),
    env.startWorker({
      target: env.tuned,
      taskQueue: `${taskQueue}-unmirrored`,
      activities: (config) => ({ ...createActivities({ config, db: env.db }), recordRunEvents: async () => undefined }),
    }),
  ]);
}

function orderShippedArgs(worker: RunningWorker): () => OrderShippedInput {
  return () => ({ ...orderTrigger(), defaultStepTimeoutSeconds: worker.config.workflow.defaultTimeoutSeconds });
}

/** The variants measured side by side: warm-up runs, runs one at a time in turn, then batches in flight in turn. */
async function sideBySide(name: string, variants: Variant[], size: { warmUp: number; oneAtATime: number; rounds: number; batch: number; concurrency: number }, say: Say) {
  say(`${name}: warming up (${size.warmUp} runs each)`);
  await warmUp(variants, size.warmUp);
  say(`${name}: ${size.oneAtATime} runs each, one at a time, alternating`);
  const single = await oneAtATime(variants, size.oneAtATime);
  say(`${name}: ${size.rounds} batches each of ${size.batch} runs, ${size.concurrency} in flight, taking turns`);
  const batched = await batches(variants, size);
  /** A variant's row of the table: its one-at-a-time latencies and its batches' throughput. */
  const row = (variant: Variant, events: number, baseline?: string): Row => ({
    variant: variant.name,
    samples: single.get(variant.name)!.map((r) => r.ms),
    ...fromRounds(batched.get(variant.name)!),
    events,
    ...(baseline ? { baseline } : {}),
  });
  return { single, batched, row };
}

const last = (runs: Timed[] | undefined): string => {
  const run = runs?.at(-1);
  if (!run) throw new Error('no run was measured');
  return run.workflowId;
};

// --- interpreter ---------------------------------------------------------------------------

const interpreter: Benchmark = {
  name: 'interpreter',
  summary: 'a 5-step definition (set → condition → email → slack → set) through the generic workflow vs the same work hand-written',
  async run(env, say) {
    const size = SIZES.interpreter;
    const def = await install(env.db, ORDER_SHIPPED, 'bench-order-shipped');
    const [worker, unmirrored] = await startWorkerPair(env, 'bench-interpreter');
    try {
      const hand = handWrittenVariant('hand-written', worker, 'handWrittenOrderShipped', orderShippedArgs(worker));
      const interp = interpreterVariant('interpreter', worker, env.db, def, orderTrigger);
      const labelled = handWrittenLabelledVariant('hand-written, labelled', unmirrored, 'handWrittenOrderShipped', orderShippedArgs(unmirrored), def);
      const bare = interpreterVariant('interpreter, mirror off', unmirrored, env.db, def, orderTrigger);
      const variants = [hand, interp, labelled, bare];
      const mailsBefore = env.smtp.messages.length;

      const { single, batched, row } = await sideBySide('interpreter', variants, size, say);

      const runs = variants.length * (size.warmUp + size.oneAtATime + size.rounds * size.batch);
      const mails = env.smtp.messages.length - mailsBefore;
      if (mails !== runs) throw new Error(`expected ${runs} emails at the SMTP peer, found ${mails}`);

      const [handHistory, interpHistory, handPhases, interpPhases] = await Promise.all([
        countHistory(worker.target.client, last(single.get(hand.name))),
        countHistory(worker.target.client, last(single.get(interp.name))),
        phaseTimes(worker.target.client, last(single.get(hand.name))),
        phaseTimes(worker.target.client, last(single.get(interp.name))),
      ]);
      const rows = {
        hand: row(hand, handHistory.total),
        interp: row(interp, interpHistory.total, hand.name),
        labelled: row(labelled, handHistory.total, hand.name),
        bare: row(bare, interpHistory.total, labelled.name),
      };
      const latency = (a: Row, b: Row) => median(a.samples) / median(b.samples);
      const own = { latency: latency(rows.bare, rows.labelled), throughput: throughputRatio(rows.bare, rows.labelled) };
      const whole = { latency: latency(rows.interp, rows.hand), throughput: throughputRatio(rows.interp, rows.hand) };
      const table: Table = {
        title: `interpreter — ${interpreter.summary}`,
        latencyNote: 'start → result, one run at a time (the variants alternating)',
        throughputUnit: `runs/s @${size.concurrency}`,
        rows: [rows.hand, rows.interp, rows.labelled, rows.bare],
        notes: [
          'the rows: "hand-written" is the workflow written by hand against Temporal, started plainly; "interpreter" is a run as the product makes it ' +
            '(search attributes, memo and summaries for the Web UI, the Postgres mirror written); "hand-written, labelled" is the hand-written workflow ' +
            'started with the same search attributes, memo and summaries (interpreterStartOptions); "interpreter, mirror off" is the product\'s run with ' +
            "the mirror's write a no-op, on a worker of its own, so against the labelled row only the interpreter differs",
          `the target is the interpreter's own cost: "interpreter, mirror off" against "hand-written, labelled" (median ×${own.latency.toFixed(2)}, ` +
            `throughput ×${own.throughput.toFixed(3)}); what the mirror costs is the \`mirror\` benchmark's target, and labels cost any run that has them. ` +
            `The whole price of a product run against the plain hand-written workflow, all three together: median ×${whole.latency.toFixed(2)}, ` +
            `throughput ×${whole.throughput.toFixed(3)}`,
          `throughput: median of ${size.rounds} batches of ${size.batch} runs with ${size.concurrency} in flight; ${PAIRED_NOTE}; ` +
            `batch rates ${variants.map((v) => `${v.name} ${batched.get(v.name)!.rates.map((r) => r.toFixed(1)).join(', ')}`).join('; ')}`,
          describeCpu(batched, [hand.name, interp.name, labelled.name, bare.name]),
          'where the extra CPU of the interpreter goes (a V8 CPU profile of the bench process, `node --cpu-prof`, on commit 5d0a9df, the batches told apart by ' +
            'which workflow ran in them): in the workflow thread about 40% is the SDK recording a stack trace for every promise workflow code makes (its promise ' +
            'hook, behind the stack-trace query; it cannot be turned off), and the interpreter makes more promises than the hand-written function; the rest is the ' +
            "interpreter's own work (scopes, templates, step records) and, on the main thread, the run's final mirror write (Kysely and pg), which the " +
            'hand-written workflow does not make; the mirror row is written before the clock starts. Since commit 0d22874 the workflow bundle is compiled for ' +
            "ES2022, not the SDK bundler's ES2017, so object spread and class fields no longer go through SWC's helpers: in a same-run A/B (the interpreter on two " +
            'workers, one per bundle, 10 alternating batches of 40 runs) the bench process took 26.2 ms of CPU per run against 27.7, the whole machine 55.5 against 57.4',
          `history, hand-written: ${describeHistory(handHistory)}`,
          `history, interpreter: ${describeHistory(interpHistory)}`,
          `last one-at-a-time run, hand-written: ${describePhases(handPhases)}`,
          `last one-at-a-time run, interpreter: ${describePhases(interpPhases)}`,
        ],
      };
      return {
        table,
        targets: [
          {
            goal:
              'the interpreter within 10% of hand-written, both started with the same labels and neither writing the mirror ' +
              '(median latency at most ×1.10, throughput at least ×1/1.10 = ×0.909)',
            met: own.latency <= 1.1 && own.throughput >= 1 / 1.1,
            measured:
              `median latency ×${own.latency.toFixed(2)} (${median(rows.bare.samples).toFixed(0)} ms vs ${median(rows.labelled.samples).toFixed(0)} ms), ` +
              `throughput ×${own.throughput.toFixed(3)} (${rows.bare.throughput.toFixed(1)} vs ${rows.labelled.throughput.toFixed(1)} runs/s)`,
          },
        ],
      };
    } finally {
      await Promise.all([worker.stop(), unmirrored.stop()]);
      env.clearSinks();
    }
  },
};

// --- encryption ----------------------------------------------------------------------------

/** A fixed AES-256 key for the benchmark's encrypting worker (its payloads live and die with the run). */
const BENCH_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

const encryption: Benchmark = {
  name: 'encryption',
  summary: 'the 5-step definition through the interpreter with payload encryption (AES-256-GCM codec) on against off',
  async run(env, say) {
    const size = SIZES.encryption;
    const def = await install(env.db, ORDER_SHIPPED, 'bench-order-shipped');
    const [plain, sealed] = await Promise.all([
      env.startWorker({ target: env.tuned, taskQueue: 'bench-encryption-off' }),
      env.startWorker({ target: env.tuned, taskQueue: 'bench-encryption-on', extra: { ENCRYPTION_KEYS: `bench:${BENCH_ENCRYPTION_KEY}` } }),
    ]);
    try {
      const off = interpreterVariant('encryption off', plain, env.db, def, orderTrigger);
      const on = interpreterVariant('encryption on', sealed, env.db, def, orderTrigger);
      const variants = [off, on];
      const { single, batched, row } = await sideBySide('encryption', variants, size, say);
      const [offHistory, onHistory] = await Promise.all([
        countHistory(plain.target.client, last(single.get(off.name))),
        countHistory(sealed.target.client, last(single.get(on.name))),
      ]);
      const rows = [row(off, offHistory.total), row(on, onHistory.total, off.name)] as const;
      const ratio = throughputRatio(rows[1], rows[0]);
      const latency = median(rows[1].samples) / median(rows[0].samples);
      const steps = ORDER_SHIPPED.steps.length;
      const codecCost = await timeCodec(plain.target.client, last(single.get(off.name)));
      return {
        table: {
          title: `encryption — ${encryption.summary}`,
          latencyNote: 'start → result, one run at a time (the variants alternating)',
          throughputUnit: `runs/s @${size.concurrency}`,
          rows: [...rows],
          notes: [
            'both rows are product runs (search attributes, memo, the mirror written) on workers of their own; "encryption on" seals every payload ' +
              'the client and worker send (inputs, results, activity arguments and results, the mirror sink is outside history) with AES-256-GCM and opens what they receive',
            `the codec's own work, timed apart: sealing and opening the payloads of one run's history (its input, result and activity arguments and results: ${codecCost.payloads} payloads, ${codecCost.bytes} bytes) ` +
              `takes ${codecCost.microsPerRun.toFixed(0)} µs of CPU, ${(codecCost.microsPerRun / steps).toFixed(0)} µs per step (${steps} steps; median of ${codecCost.rounds} rounds) — ` +
              `far below what the runs' timings can tell apart (median latency ×${latency.toFixed(3)})`,
            `throughput: median of ${size.rounds} batches of ${size.batch} runs with ${size.concurrency} in flight; ${PAIRED_NOTE}; ` +
              `batch rates ${variants.map((v) => `${v.name} ${batched.get(v.name)!.rates.map((r) => r.toFixed(1)).join(', ')}`).join('; ')}`,
            describeCpu(batched, [off.name, on.name]),
            `history, encryption on: ${describeHistory(onHistory)}`,
          ],
        },
        targets: [
          {
            goal: 'payload encryption costs at most 5% of throughput (at least ×0.95 of encryption off)',
            met: ratio >= 0.95,
            measured: `throughput ×${ratio.toFixed(3)} (${rows[1].throughput.toFixed(1)} vs ${rows[0].throughput.toFixed(1)} runs/s), median latency ×${latency.toFixed(3)}`,
          },
        ],
      };
    } finally {
      await Promise.all([plain.stop(), sealed.stop()]);
      env.clearSinks();
    }
  },
};

/** Seals and opens, with the product's codec, the payload lists of a run's (unencrypted) history: the codec's CPU per run. */
async function timeCodec(client: Client, workflowId: string): Promise<{ payloads: number; bytes: number; microsPerRun: number; rounds: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payloads: Payload[] = [];
  const collect = (value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach(collect);
    const v = value as { payloads?: unknown; data?: unknown; metadata?: unknown };
    if (Array.isArray(v.payloads)) payloads.push(...(v.payloads as Payload[]));
    else for (const inner of Object.values(value)) collect(inner);
  };
  collect(history.events);
  const codec = new EncryptionCodec(encryptionKeys({ keys: { bench: BENCH_ENCRYPTION_KEY }, currentKeyId: 'bench' }));
  const rounds = 200;
  const samples: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const t0 = performance.now();
    await codec.decode(await codec.encode(payloads));
    samples.push((performance.now() - t0) * 1000);
  }
  return { payloads: payloads.length, bytes: payloads.reduce((n, p) => n + (p.data?.length ?? 0), 0), microsPerRun: median(samples), rounds };
}

// --- sequential40 --------------------------------------------------------------------------

const sequential40: Benchmark = {
  name: 'sequential40',
  summary: 'one run of 40 sequential http steps to a loopback server, wall time start → completion',
  async run(env, say) {
    const size = SIZES.sequential40;
    const url = `${env.api.url}/ping`;
    const def = await install(
      env.db,
      {
        key: 'bench-sequential',
        name: `Benchmark: ${size.steps} sequential http steps`,
        category: 'benchmark',
        steps: Array.from({ length: size.steps }, (_, i) => ({ id: `call${i + 1}`, type: 'http' as const, url: `${url}?step=${i + 1}` })),
      },
      'bench-sequential',
    );
    say(`sequential40: starting dev servers for ${size.setups.filter((s) => s !== 'tuned').join(', ')}`);
    const extra = await Promise.allSettled(size.setups.filter((s) => s !== 'tuned').map((s) => env.startServer(s)));
    const servers = extra.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const workers: RunningWorker[] = [];
    try {
      const failed = extra.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      for (const target of [env.tuned, ...servers]) workers.push(await env.startWorker({ target, taskQueue: 'bench-sequential' }));

      const args = (worker: RunningWorker) => (): SequentialHttpInput => ({
        url,
        steps: size.steps,
        defaultStepTimeoutSeconds: worker.config.workflow.defaultTimeoutSeconds,
      });
      const variants = workers.flatMap((w) => {
        const label = SERVER_SETUPS[w.target.setup].label;
        return [
          { worker: w, variant: handWrittenVariant(`hand-written, ${label}`, w, 'handWrittenSequentialHttp', args(w)) },
          { worker: w, variant: interpreterVariant(`interpreter, ${label}`, w, env.db, def, () => ({})) },
        ];
      });
      const requestsBefore = env.api.requests.length;
      say(`sequential40: warming up (${size.warmUp} run each)`);
      await warmUp(variants.map((v) => v.variant), size.warmUp);
      say(`sequential40: ${size.oneAtATime} runs each, one at a time, the ${variants.length} variants in rotating order`);
      const single = await oneAtATime(variants.map((v) => v.variant), size.oneAtATime);
      const expected = variants.length * (size.warmUp + size.oneAtATime) * size.steps;
      const requests = env.api.requests.length - requestsBefore;
      if (requests !== expected) throw new Error(`expected ${expected} requests at the HTTP peer, found ${requests}`);

      const lastOf = ({ worker, variant }: (typeof variants)[number]) => ({ client: worker.target.client, id: last(single.get(variant.name)) });
      const histories = await Promise.all(variants.map((v) => countHistory(lastOf(v).client, lastOf(v).id)));
      const phases = await Promise.all(variants.map((v) => phaseTimes(lastOf(v).client, lastOf(v).id)));
      const partitions = await Promise.all(
        workers.map(async (w) => {
          const res = await w.target.connection.workflowService.listTaskQueuePartitions({
            namespace: 'default',
            taskQueue: { name: w.taskQueue },
          });
          return `${SERVER_SETUPS[w.target.setup].label}: ${res.workflowTaskQueuePartitions?.length ?? 0} workflow / ${res.activityTaskQueuePartitions?.length ?? 0} activity`;
        }),
      );
      const rows = variants.map(({ variant }, i) => {
        const samples = single.get(variant.name)!.map((r) => r.ms);
        const total = samples.reduce((a, b) => a + b, 0) / 1000;
        const isHand = i % 2 === 0;
        return {
          variant: variant.name,
          samples,
          throughput: (samples.length * size.steps) / total,
          events: histories[i]!.total,
          // Interpreter rows against hand-written on the same server; hand-written rows against hand-written on the tuned one.
          baseline: i === 0 ? undefined : isHand ? variants[0]!.variant.name : variants[i - 1]!.variant.name,
        };
      });
      // Variants come in pairs per server: hand-written (even index), then the interpreter.
      const setupOf = (i: number) => SERVER_SETUPS[variants[i]!.worker.target.setup];
      const untuned = rows.flatMap((row, i) => (i % 2 === 0 && !setupOf(i).judged ? [`${median(row.samples).toFixed(0)} ms on "${setupOf(i).label}"`] : []));
      const table: Table = {
        title: `sequential40 — ${sequential40.summary}`,
        latencyNote: 'start → result of the whole run, one run at a time (the variants rotating)',
        throughputUnit: 'steps/s',
        rows,
        notes: [
          'ratios: each interpreter row against the hand-written row on the same server; each hand-written row against hand-written on the tuned server (DEV_SERVER_TUNING)',
          `targets: the servers the product runs (${workers
            .filter((w) => SERVER_SETUPS[w.target.setup].judged)
            .map((w) => `"${SERVER_SETUPS[w.target.setup].label}"`)
            .join(', ')}); the other set-ups are comparisons, not targets. Hand-written on the untuned server: ` +
            `${untuned.join(', ')}, against the 3.06 s published for Temporal on this shape`,
          ...workers.map((w) => `server "${SERVER_SETUPS[w.target.setup].label}": ${SERVER_SETUPS[w.target.setup].description}`),
          `task-queue partitions the servers report — ${partitions.join('; ')}`,
          `history, hand-written: ${describeHistory(histories[0]!)}`,
          `history, interpreter: ${describeHistory(histories[1]!)}`,
          ...variants.map((v, i) => `last run, ${v.variant.name}: ${describePhases(phases[i]!)}`),
          ...variants
            .filter((_, i) => i % 2 === 0)
            .map((v) => {
              const p = phases[variants.indexOf(v)]!;
              const h = histories[variants.indexOf(v)]!;
              const tasks = (h.byType.ACTIVITY_TASK_SCHEDULED ?? 0) + (h.byType.WORKFLOW_TASK_COMPLETED ?? 0);
              const dispatch = p.activityDispatch + p.workflowTaskDispatch;
              return (
                `dispatch on "${SERVER_SETUPS[v.worker.target.setup].label}": ${(dispatch / Math.max(1, tasks)).toFixed(1)} ms per task ` +
                `(${tasks} tasks), ${((100 * dispatch) / Math.max(1, p.total)).toFixed(0)}% of the hand-written run`
              );
            }),
        ],
      };
      const targets = rows
        .map((row, i) => ({ row, i }))
        .filter(({ i }) => i % 2 === 1 && setupOf(i).judged)
        .map(({ row, i }) => ({
          goal: `${size.steps} sequential steps in ≤ 1.2 s (${row.variant})`,
          met: median(row.samples) <= 1200,
          measured: `median ${median(row.samples).toFixed(0)} ms; hand-written on the same server ${median(rows[i - 1]!.samples).toFixed(0)} ms`,
        }));
      return { table, targets };
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(servers.map((s) => s.close()));
      env.clearSinks();
    }
  },
};

// --- mirror --------------------------------------------------------------------------------

const mirror: Benchmark = {
  name: 'mirror',
  summary: 'the 5-step definition through the generic workflow with the Postgres mirror on vs a no-op recordRunEvents',
  async run(env, say) {
    const size = SIZES.mirror;
    const def = await install(env.db, ORDER_SHIPPED, 'bench-mirror');
    const [on, off] = await startWorkerPair(env, 'bench-mirror');
    try {
      const withMirror = interpreterVariant('mirror on', on, env.db, def, orderTrigger);
      const without = interpreterVariant('mirror off', off, env.db, def, orderTrigger);
      const variants = [without, withMirror];
      const { single, batched } = await sideBySide('mirror', variants, size, say);

      // The mirror really was written with it on, and not with it off.
      const executionId = (workflowId: string) => workflowId.slice('bench-mirror-'.length);
      const [onRow, offRow] = await Promise.all([
        findExecution(env.db, executionId(last(single.get(withMirror.name)))),
        findExecution(env.db, executionId(last(single.get(without.name)))),
      ]);
      if (onRow?.status !== 'SUCCESS' || offRow?.status !== 'PENDING') {
        throw new Error(`mirror rows are not as expected: on → ${onRow?.status}, off → ${offRow?.status}`);
      }
      const [onHistory, offHistory] = await Promise.all([
        countHistory(on.target.client, last(single.get(withMirror.name))),
        countHistory(off.target.client, last(single.get(without.name))),
      ]);
      const lags = await mirrorLags(env.db, on.target.client, batched.get(withMirror.name)!.runs.map((r) => r.workflowId));
      const lagP99 = quantile(lags, 0.99);
      const table: Table = {
        title: `mirror — ${mirror.summary}`,
        latencyNote: 'start → result, one run at a time (the variants alternating)',
        throughputUnit: `runs/s @${size.concurrency}`,
        rows: [
          { variant: 'mirror off', samples: single.get(without.name)!.map((r) => r.ms), ...fromRounds(batched.get(without.name)!), events: offHistory.total },
          {
            variant: 'mirror on',
            samples: single.get(withMirror.name)!.map((r) => r.ms),
            ...fromRounds(batched.get(withMirror.name)!),
            events: onHistory.total,
            baseline: 'mirror off',
          },
        ],
        notes: [
          `throughput: median of ${size.rounds} batches of ${size.batch} runs with ${size.concurrency} in flight; ${PAIRED_NOTE}; ` +
            `batch rates off ${batched.get(without.name)!.rates.map((r) => r.toFixed(1)).join(', ')}; on ${batched.get(withMirror.name)!.rates.map((r) => r.toFixed(1)).join(', ')}`,
          describeCpu(batched, [without.name, withMirror.name]),
          `both workers run the same interpreter; "off" replaces only the recordRunEvents activity with a no-op, which the worker's final write (the mirror sink) calls too, so the histories are the same`,
          `mirror lag, the ${lags.length} runs of the "on" batches: the row's final write (its updated_at, Postgres's clock) minus the run's close time ` +
            `(Temporal's clock; one machine, one clock): median ${median(lags).toFixed(1)} ms, p99 ${lagP99.toFixed(1)} ms, ` +
            `${lags.filter((l) => l <= 0).length} of ${lags.length} final before Temporal closed the run (the workflow writes its final status, ` +
            'then completes; a run closed from outside waits for the reconciler instead)',
        ],
      };
      const [offThroughput, onThroughput] = table.rows as [Row, Row];
      const ratio = throughputRatio(onThroughput, offThroughput);
      return {
        table,
        targets: [
          {
            goal: 'mirror on: throughput at least 90% of mirror off (10 in flight)',
            met: ratio >= 0.9,
            measured: `×${ratio.toFixed(3)} (${onThroughput.throughput.toFixed(1)} vs ${offThroughput.throughput.toFixed(1)} runs/s)`,
          },
          { goal: 'mirror lag p99 under 250 ms under that load', met: lagP99 < 250, measured: `p99 ${lagP99.toFixed(1)} ms over ${lags.length} runs` },
        ],
      };
    } finally {
      await Promise.all([on.stop(), off.stop()]);
      env.clearSinks();
    }
  },
};

/**
 * Per run: when its mirror row became final (updated_at of the final write)
 * minus when Temporal closed the run, in milliseconds; negative when the row
 * was final first.
 */
async function mirrorLags(db: Kysely<Database>, client: Client, workflowIds: string[]): Promise<number[]> {
  const rows = await db
    .selectFrom('workflow_executions')
    .select(['workflow_id', 'status', 'updated_at'])
    .where('workflow_id', 'in', workflowIds)
    .execute();
  const lags: number[] = [];
  for (const row of rows) {
    const closed = (await client.workflow.getHandle(row.workflow_id).describe()).closeTime;
    if (row.status !== 'SUCCESS' || !closed) throw new Error(`run ${row.workflow_id} is not finished in the mirror (${row.status}) or in Temporal`);
    lags.push(row.updated_at.getTime() - closed.getTime());
  }
  if (lags.length !== workflowIds.length) throw new Error(`${workflowIds.length - lags.length} runs have no mirror row`);
  return lags;
}

export const BENCHMARKS: Benchmark[] = [interpreter, encryption, sequential40, mirror, gateway, gatewayLoad, expressions, hostile, mirrorScale, scale, cluster, outage];
