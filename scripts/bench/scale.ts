/**
 * `scale`: what one large run costs. A `foreach` over 10,000 items (the
 * interpreter runs lists longer than 500 items in child workflows of 500
 * items each, workflows/steps/foreach.ts) and a definition of 200 top-level
 * steps, the latter at the default continue-as-new threshold and at lower
 * ones side by side, so the record shows the chain of runs and what
 * continuing costs. Each run is started as the product starts it
 * (src/executions/start.ts `startExecution`: version pinned, mirror row,
 * search attributes, settings from configuration) and timed from that call
 * to the result at the end of the chain.
 */
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createDefinition } from '../../db/definitions';
import { findExecution } from '../../db/executions';
import type { DefinitionRow } from '../../db/schema';
import { startExecution } from '../../src/executions/start';
import { type DefinitionInput, parseDefinition } from '../../src/shared/definition';
import type { RunInput, RunResult } from '../../src/shared/run';
import type { Benchmark } from './benchmarks';
import type { BenchEnv, RunningWorker } from './env';
import { describePhases, phaseTimes, rotate } from './measure';
import { median, quantile, type Row, type Table } from './stats';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

/** Workload of the default run. */
export const SCALE_SIZES = {
  /** Items of the large `foreach`; the warm-up run of its worker has `warmUpItems`. */
  items: 10_000,
  warmUpItems: 1_000,
  /** Top-level steps of the long definition: every `delayEvery`-th a 1 ms delay, every other `httpEvery`-th a loopback GET, the rest `set`. */
  steps: 200,
  httpEvery: 5,
  delayEvery: 50,
  /** WORKFLOW_CONTINUE_AS_NEW_EVENTS of the long definition's variants; the first is the default, the baseline. */
  thresholds: [10_000, 1_000, 250, 100],
  /** Runs of every variant, the variants rotating round by round; of each 10,000-item loop (half a minute or more a run), only `loopRuns`. */
  rounds: 3,
  loopRuns: 1,
  memorySampleMs: 50,
} as const;

const TASK_QUEUE = 'bench-scale';

// --- the definitions -----------------------------------------------------------------------

const FACTOR = 3;

/**
 * A `set` at the start, the loop (each item one `set`), and a `set` summing
 * what the loop produced. The items come from `items`: the trigger data's
 * list, or a range the expression builds from a count.
 */
function foreachDefinition(key: string, items: string): DefinitionInput {
  return {
    key,
    name: `Benchmark: foreach over ${SCALE_SIZES.items.toLocaleString('en')} items`,
    category: 'benchmark',
    steps: [
      { id: 'start', type: 'set', values: { factor: FACTOR } },
      {
        id: 'each',
        type: 'foreach',
        items,
        maxItems: SCALE_SIZES.items,
        steps: [{ id: 'times', type: 'set', values: { last: '{{ loop.item * vars.factor }}' } }],
      },
      { id: 'sum', type: 'set', values: { total: '{{ $sum(steps.each.output.results.times.last) }}' } },
    ],
  };
}

function longDefinition(url: string): DefinitionInput {
  const { steps, httpEvery, delayEvery } = SCALE_SIZES;
  return {
    key: 'bench-scale-steps',
    name: `Benchmark: ${steps} top-level steps`,
    category: 'benchmark',
    steps: Array.from({ length: steps }, (_, k): DefinitionInput['steps'][number] => {
      const i = k + 1;
      if (i % delayEvery === 0) return { id: `pause${i}`, type: 'delay', duration: '1ms' };
      if (i % httpEvery === 0) return { id: `call${i}`, type: 'http', url: `${url}?step=${i}` };
      return { id: `set${i}`, type: 'set', values: { [`v${i}`]: `{{ input.seed + ${i} }}` } };
    }),
  };
}

const mix = (() => {
  const { steps, httpEvery, delayEvery } = SCALE_SIZES;
  const delays = Math.floor(steps / delayEvery);
  const http = Math.floor(steps / httpEvery) - delays;
  return { delays, http, sets: steps - delays - http };
})();

async function install(env: BenchEnv, input: DefinitionInput): Promise<DefinitionRow> {
  const parsed = parseDefinition(input);
  if (!parsed.ok) throw new Error(`benchmark definition ${input.key} is invalid: ${JSON.stringify(parsed.problems)}`);
  return createDefinition(env.db, parsed.definition);
}

// --- measuring one run ---------------------------------------------------------------------

interface Memory {
  rssStart: number;
  rssPeak: number;
  heapPeak: number;
  /** CPU time of this process (user + system) during the run, ms. */
  cpuMs: number;
}

/** Samples this process's memory until stopped: the worker runs in it. */
function watchMemory(everyMs: number): () => Memory {
  const first = process.memoryUsage();
  const cpu = process.cpuUsage();
  let rssPeak = first.rss;
  let heapPeak = first.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    rssPeak = Math.max(rssPeak, m.rss);
    heapPeak = Math.max(heapPeak, m.heapUsed);
  };
  const timer = setInterval(sample, everyMs);
  return () => {
    clearInterval(timer);
    sample();
    const used = process.cpuUsage(cpu);
    return { rssStart: first.rss, rssPeak, heapPeak, cpuMs: (used.user + used.system) / 1000 };
  };
}

interface Measured {
  ms: number;
  workflowId: string;
  firstRunId: string;
  memory: Memory;
}

/** Starts a run as the gateway does and waits for the result of the last run of its chain. */
async function runOnce(
  env: BenchEnv,
  worker: RunningWorker,
  row: DefinitionRow,
  triggerData: Record<string, unknown>,
  threshold: number,
  check: (result: RunResult) => void,
): Promise<Measured> {
  const config = env.configFor(worker.target, worker.taskQueue, { WORKFLOW_CONTINUE_AS_NEW_EVENTS: String(threshold) });
  const client = worker.target.client;
  const stopWatching = watchMemory(SCALE_SIZES.memorySampleMs);
  const t0 = performance.now();
  const started = await startExecution({ db: env.db, client, config }, row, triggerData);
  const result = await client.workflow.getHandle(started.workflowId, started.runId).result();
  const ms = performance.now() - t0;
  const memory = stopWatching();
  check(result as RunResult);
  const mirrored = await findExecution(env.db, started.executionId);
  if (mirrored?.status !== 'SUCCESS') throw new Error(`the mirror row of ${started.workflowId} is ${mirrored?.status}, not SUCCESS`);
  return { ms, workflowId: started.workflowId, firstRunId: started.runId, memory };
}

interface RunHistory {
  events: number;
  bytes: number;
  /** Index of the top-level step this run resumed at (a continuation), else undefined. */
  resumedAt: number | undefined;
  children: { workflowId: string; runId: string }[];
  /** Time from each timer's start to its firing, summed, in the server's clock (ms). */
  timerMs: number;
}

async function historyOf(client: Client, workflowId: string, runId: string): Promise<RunHistory & { next: string | undefined }> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events = history.events ?? [];
  const payload = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = payload ? defaultPayloadConverter.fromPayload<RunInput>(payload) : undefined;
  const children = events.flatMap((e) => {
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    return child?.workflowId && child.runId ? [{ workflowId: child.workflowId, runId: child.runId }] : [];
  });
  const at = new Map(events.map((e) => [Number(e.eventId ?? 0), eventMs(e.eventTime)]));
  const timerMs = sum(
    events.flatMap((e) => {
      const fired = e.timerFiredEventAttributes;
      return fired ? [eventMs(e.eventTime) - (at.get(Number(fired.startedEventId ?? 0)) ?? eventMs(e.eventTime))] : [];
    }),
  );
  return {
    timerMs,
    events: events.length,
    bytes: temporal.api.history.v1.History.encode(history).finish().length,
    resumedAt: input?.resume?.next,
    children,
    next: events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined,
  };
}

function eventMs(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;
}

interface Chain {
  runs: RunHistory[];
  children: RunHistory[];
}

/** Every run of the chain (following continue-as-new), and every child workflow they started. */
async function chainOf(client: Client, workflowId: string, firstRunId: string): Promise<Chain> {
  const runs: RunHistory[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const { next, ...run } = await historyOf(client, workflowId, runId);
    runs.push(run);
    runId = next;
  }
  const children = await Promise.all(runs.flatMap((r) => r.children).map((c) => historyOf(client, c.workflowId, c.runId)));
  return { runs, children };
}

// --- the benchmark -------------------------------------------------------------------------

interface Variant {
  name: string;
  threshold: number;
  /** Runs measured (the slow foreach fewer). */
  runs: number;
  /** Steps run by one run (a foreach item counts as one). */
  steps: number;
  baseline?: string | undefined;
  run(): Promise<Measured>;
}

const n = (v: number) => v.toLocaleString('en');
const kb = (bytes: number) => (bytes >= 1_048_576 ? `${(bytes / 1_048_576).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`);
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MiB`;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export const scale: Benchmark = {
  name: 'scale',
  summary: `one large run: a foreach over ${n(SCALE_SIZES.items)} items and a definition of ${SCALE_SIZES.steps} top-level steps, wall time, worker memory, history size and where continue-as-new kicks in`,
  workload: () => {
    const s = SCALE_SIZES;
    return (
      `a foreach over ${n(s.items)} items, each a \`set\` (child workflows of 500 items), the items from a range expression or in the trigger data; ` +
      `${s.steps} top-level steps (${mix.sets} \`set\`, ${mix.http} loopback \`http\` GET, ${mix.delays} \`delay\` of 1 ms) at WORKFLOW_CONTINUE_AS_NEW_EVENTS ` +
      `${s.thresholds.map(n).join(', ')}; ${s.rounds} runs of each of those after 1 warm-up run, and ${s.loopRuns} of each loop, each loop on a worker of its own ` +
      `warmed by a loop over ${n(s.warmUpItems)} items; the variants rotating, one run at a time`
    );
  },
  async run(env, say) {
    const size = SCALE_SIZES;
    const url = `${env.api.url}/ping`;
    const [inputLoopRow, rangeLoopRow, longRow] = await Promise.all([
      install(env, foreachDefinition('bench-scale-foreach-input', 'input.items')),
      install(env, foreachDefinition('bench-scale-foreach-range', '[0..(input.count - 1)]')),
      install(env, longDefinition(url)),
    ]);
    const worker = await env.startWorker({ target: env.tuned, taskQueue: TASK_QUEUE });
    try {
      const defaultThreshold = size.thresholds[0];
      const sumOf = (items: number) => (FACTOR * (items - 1) * items) / 2;
      const loopName = (items: number, from: 'input' | 'range') =>
        `foreach ${n(items)} × set, items ${from === 'input' ? 'in the trigger data' : 'from a range expression'}`;
      // Each loop gets a worker of its own, warmed by a short loop: a second or third 10,000-item loop in one
      // worker has taken the whole process down ("async hook stack has become corrupted" in its workflow thread).
      const runLoop = (own: RunningWorker, items: number, from: 'input' | 'range') =>
        runOnce(
          env,
          own,
          from === 'input' ? inputLoopRow : rangeLoopRow,
          from === 'input' ? { items: Array.from({ length: items }, (_, i) => i) } : { count: items },
          defaultThreshold,
          (r) => {
            if (r.vars.total !== sumOf(items)) throw new Error(`foreach summed to ${String(r.vars.total)}, not ${sumOf(items)}`);
          },
        );
      let loopWorkers = 0;
      const loop = (items: number, from: 'input' | 'range'): Variant => ({
        name: loopName(items, from),
        threshold: defaultThreshold,
        steps: items + 2,
        runs: size.loopRuns,
        baseline: from === 'input' ? loopName(items, 'range') : undefined,
        run: async () => {
          loopWorkers += 1;
          const own = await env.startWorker({ target: env.tuned, taskQueue: `${TASK_QUEUE}-loop-${loopWorkers}` });
          try {
            await runLoop(own, size.warmUpItems, from);
            return await runLoop(own, items, from);
          } finally {
            await own.stop();
          }
        },
      });
      let seed = 0;
      const long = (threshold: number): Variant => ({
        name: `${size.steps} steps, continue-as-new at ${n(threshold)}${threshold === defaultThreshold ? ' (default)' : ''}`,
        threshold,
        steps: size.steps,
        runs: size.rounds,
        baseline: threshold === defaultThreshold ? undefined : `${size.steps} steps, continue-as-new at ${n(defaultThreshold)} (default)`,
        run: () => {
          seed += 1000;
          const mine = seed;
          return runOnce(env, worker, longRow, { seed: mine }, threshold, (r) => {
            const last = size.steps - 1;
            if (r.vars[`v${last}`] !== mine + last) throw new Error(`step ${last} set ${String(r.vars[`v${last}`])}, not ${mine + last}`);
          });
        },
      });
      const longVariants = size.thresholds.map(long);
      const rangeLoop = loop(size.items, 'range');
      const inputLoop = loop(size.items, 'input');
      const variants = [rangeLoop, inputLoop, ...longVariants];
      const requestsBefore = env.api.requests.length;

      say(`scale: warming up (${size.steps} steps at the default threshold; each loop warms its own worker)`);
      await long(defaultThreshold).run();

      say(`scale: up to ${size.rounds} runs of each of ${variants.length} variants, one at a time, rotating`);
      const measured = new Map<string, Measured[]>(variants.map((v) => [v.name, []]));
      for (let round = 0; round < size.rounds; round += 1) {
        for (const v of rotate(variants, round)) {
          if (measured.get(v.name)!.length >= v.runs) continue;
          const m = await v.run();
          measured.get(v.name)!.push(m);
          say(`scale: ${v.name}: ${(m.ms / 1000).toFixed(2)} s, RSS peak ${mib(m.memory.rssPeak)}`);
        }
      }
      const requests = env.api.requests.length - requestsBefore;
      const expectedRequests = (1 + size.rounds * size.thresholds.length) * mix.http;
      if (requests !== expectedRequests) throw new Error(`expected ${expectedRequests} requests at the HTTP peer, found ${requests}`);

      // Histories of each variant's last run: the chain, and the chunks a foreach started.
      const lastRun = (v: Variant) => measured.get(v.name)!.at(-1)!;
      const chains = await Promise.all(variants.map((v) => chainOf(worker.target.client, lastRun(v).workflowId, lastRun(v).firstRunId)));
      const chainOfVariant = new Map(variants.map((v, i) => [v.name, chains[i]!]));
      const basePhases = await phaseTimes(worker.target.client, lastRun(longVariants[0]!).workflowId);

      const rows: Row[] = variants.map((v) => {
        const runs = measured.get(v.name)!;
        return {
          variant: v.name,
          samples: runs.map((r) => r.ms),
          throughput: median(runs.map((r) => v.steps / (r.ms / 1000))),
          events: sum(chainOfVariant.get(v.name)!.runs.map((r) => r.events)),
          baseline: v.baseline,
        };
      });

      const describeChain = (v: Variant) => {
        const { runs } = chainOfVariant.get(v.name)!;
        const where = runs
          .slice(1)
          .map((r, i) => `after ${n(runs[i]!.events)} events, before step ${(r.resumedAt ?? 0) + 1}`)
          .join('; ');
        return runs.length === 1 ? '1 run' : `${runs.length} runs (continued ${where})`;
      };
      const memoryOf = (v: Variant) => {
        const runs = measured.get(v.name)!;
        return {
          rssPeak: Math.max(...runs.map((r) => r.memory.rssPeak)),
          growth: Math.max(...runs.map((r) => r.memory.rssPeak - r.memory.rssStart)),
          heapPeak: Math.max(...runs.map((r) => r.memory.heapPeak)),
          cpuMs: median(runs.map((r) => r.memory.cpuMs)),
        };
      };

      const detailRows = variants.map((v) => {
        const { runs, children } = chainOfVariant.get(v.name)!;
        const mem = memoryOf(v);
        const events = runs.map((r) => r.events);
        const bytes = runs.map((r) => r.bytes);
        const chunkEvents = children.map((c) => c.events);
        const chunkBytes = children.map((c) => c.bytes);
        return [
          v.name,
          describeChain(v),
          `${n(sum(events))} / ${n(Math.max(...events))}`,
          `${kb(sum(bytes))} / ${kb(Math.max(...bytes))}`,
          children.length
            ? `${children.length}: events ${n(Math.max(...chunkEvents))} max, ${n(sum(chunkEvents))} total; ${kb(Math.max(...chunkBytes))} max, ${kb(sum(chunkBytes))} total`
            : '–',
          `${mib(mem.rssPeak)} (+${mib(mem.growth)})`,
          mib(mem.heapPeak),
          `${(mem.cpuMs / 1000).toFixed(1)} s`,
        ];
      });
      const details = [
        '### History and memory by variant',
        '',
        'Histories of each variant\'s last run; memory over all its runs; CPU the median per run.',
        '',
        '| variant | chain | events: all runs / largest run | history bytes: all runs / largest run | chunk child workflows | worker RSS peak (growth in a run) | main-thread heap peak | process CPU per run |',
        '|---|---|---:|---:|---|---:|---:|---:|',
        ...detailRows.map((r) => `| ${r.join(' | ')} |`),
      ].join('\n');
      for (const r of detailRows) say(`scale: ${r.join(' · ')}`);

      // Findings, in words.
      const base = longVariants[0]!;
      const baseMedian = median(measured.get(base.name)!.map((r) => r.ms));
      const baseChain = chainOfVariant.get(base.name)!;
      const baseSpread = quantile(measured.get(base.name)!.map((r) => r.ms), 0.95) - baseMedian;
      const withinSpread = longVariants
        .slice(1)
        .filter((v) => Math.abs(median(measured.get(v.name)!.map((r) => r.ms)) - baseMedian) <= baseSpread)
        .map((v) => n(v.threshold));
      const costs = longVariants.slice(1).map((v) => {
        const c = chainOfVariant.get(v.name)!;
        const med = median(measured.get(v.name)!.map((r) => r.ms));
        const extra = c.runs.length - baseChain.runs.length;
        const bytes = sum(c.runs.map((r) => r.bytes));
        const baseBytes = sum(baseChain.runs.map((r) => r.bytes));
        const eventsRatio = sum(c.runs.map((r) => r.events)) / sum(baseChain.runs.map((r) => r.events));
        const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(0)} ms`;
        return (
          `at ${n(v.threshold)}, ${c.runs.length} run${c.runs.length === 1 ? '' : 's'}: median ×${(med / baseMedian).toFixed(2)}` +
          (extra > 0 ? ` (${signed((med - baseMedian) / extra)} per continuation)` : '') +
          `, events ×${eventsRatio.toFixed(2)}, history bytes ×${(bytes / baseBytes).toFixed(2)}` +
          (extra > 0 ? ` (+${kb((bytes - baseBytes) / extra)} per continuation)` : '')
        );
      });
      const loopLine = async (v: Variant) => {
        const c = chainOfVariant.get(v.name)!;
        const biggest = Math.max(...c.children.map((x) => x.events));
        const biggestBytes = Math.max(...c.children.map((x) => x.bytes));
        const lastChunk = c.runs[0]!.children.at(-1);
        const phases = lastChunk ? `; its last chunk ${describePhases(await phaseTimes(worker.target.client, lastChunk.workflowId))}` : '';
        return (
          `${v.name}: ${(median(measured.get(v.name)!.map((r) => r.ms)) / 1000).toFixed(1)} s; the parent's history ${n(c.runs[0]!.events)} events (${kb(c.runs[0]!.bytes)}), ` +
          `the largest of its ${c.children.length} chunks ${n(biggest)} events (${kb(biggestBytes)})${phases}`
        );
      };
      const loopRatio = median(measured.get(inputLoop.name)!.map((r) => r.ms)) / median(measured.get(rangeLoop.name)!.map((r) => r.ms));
      const table: Table = {
        title: `scale — ${scale.summary}`,
        latencyNote: 'startExecution call (version pinned, mirror row, start) → result of the last run of the chain, one run at a time (the variants rotating)',
        throughputUnit: 'steps/s',
        rows,
        notes: [
          `foreach: the loop body is one \`set\` (\`last: loop.item * vars.factor\`, a JSONata template, no activity), concurrency 1, chunks of 500 items in child workflows (a chunk's 500 iterations run in one workflow task, its mirror write included); ` +
            `a \`set\` before and one summing the ${n(size.items)} results after (checked). The items are either the trigger data's list ` +
            `(\`{ items: [0 … ${n(size.items - 1)}] }\`) or built by \`[0..(input.count - 1)]\`; ` +
            'steps/s counts each item as one step',
          await loopLine(rangeLoop),
          await loopLine(inputLoop),
          `the loop over trigger data took ×${loopRatio.toFixed(2)} the time of the loop over a range (one run each, so the ratio moves with the machine's load). ` +
            'An expression copies only the scope names it reaches (src/shared/expressions.ts; every V2 run, and V1 runs under the lean-runs patch): the body reads `loop` and `vars`, ' +
            `so the ${n(size.items)}-item input is not copied for each item, as it was before (×1.51 then, 41.0 s against 27.2 s, commit 27f0739); ` +
            'every chunk\'s start still carries the whole run input besides its own 500 items',
          'each loop ran on a fresh worker: in two earlier runs of this benchmark, a second or third 10,000-item loop on one worker aborted the whole process ' +
            '("async hook stack has become corrupted" from its workflow thread)',
          `${size.steps} steps: ${mix.sets} \`set\` (one variable each from a template), ${mix.http} \`http\` GET to a loopback peer (every ${size.httpEvery}th step), ` +
            `${mix.delays} \`delay\` of 1 ms (every ${size.delayEvery}th); the threshold is the run setting WORKFLOW_CONTINUE_AS_NEW_EVENTS gives at the start, ` +
            'checked between top-level steps against the history length as of the current workflow task',
          `continue-as-new against the default threshold (${describeChain(base)}, ${n(baseChain.runs[0]!.events)} events): ${costs.join('; ')}. ` +
            `Wall-time differences within the runs' spread (the default's p95 is ${baseSpread.toFixed(0)} ms above its median) are noise: ` +
            `${withinSpread.length ? `here at ${withinSpread.join(', ')}` : 'none here'}; ` +
            'each continued run\'s start event carries the run input again: the definition and the state carried over (variables, outputs, step states)',
          `last run at the default threshold: ${describePhases(basePhases)}; of the time between tasks, ` +
            `${n(Math.round(baseChain.runs[0]!.timerMs))} ms is its ${mix.delays} one-millisecond delays waiting on the dev server's timers`,
          'events/run: the events of every run of the chain together; for a foreach, of the parent run alone (its chunks\' are in the details)',
          'memory: the worker runs inside the bench process (with the client, the loopback peers and the Postgres pool), so the figures are that process\'s: ' +
            `RSS sampled every ${size.memorySampleMs} ms (the whole process, the SDK's workflow thread included) and the main thread's V8 heap (activities, client; ` +
            'the workflow sandbox has its own heap in its worker thread, which only RSS sees). RSS is seldom given back, so a run\'s growth depends on what ran before it',
          'the dev server and Postgres are other processes, not in the memory or CPU figures; the machine is shared, so wall times drift with its load',
        ],
      };
      return { table, targets: [], details };
    } finally {
      await worker.stop();
      env.clearSinks();
    }
  },
};
