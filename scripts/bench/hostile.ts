/**
 * `hostile`: does a hostile expression hold up the other runs of its worker?
 * One worker, `src/worker/main.ts` as a process of its own at LOG_LEVEL=warn,
 * its output kept and searched. Rounds alternate: (a) 20 ordinary runs alone;
 * (b) 5 hostile runs (five entries of test/fixtures/hostile-expressions.json)
 * started first, then the same 20 ordinary runs. Latency is Temporal's start →
 * close of each run (the server's clock). Each hostile run must end FAILED with
 * a message naming its limit; workflow-task timeouts are counted in the
 * worker's log and in every run's history.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { HOSTILE, inRun } from '../../test/support/hostile-expressions';
import { insertExecution } from '../../db/executions';
import { interpreterStartOptions, mirrorRow } from '../../src/executions/start';
import type { DefinitionInput } from '../../src/shared/definition';
import { INTERPRETER_WORKFLOW } from '../../src/shared/run';
import { workflowIdFor } from '../../src/temporal/client';
import { entryFile } from '../../src/paths';
import { stopChild } from '../lib/supervisor';
import type { Say } from '../lib/temporal';
import type { Benchmark } from './benchmarks';
import { type Installed, install } from './workload';
import type { BenchEnv } from './env';
import { countHistory, phaseTimes, type PhaseTimes, processCpuMs } from './measure';
import { median, quantile } from './stats';

const { temporal } = proto;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const HOSTILE_SIZES = { rounds: 3, ordinary: 20, target: 1.5 } as const;

/** Five representative entries of the corpus, by name. */
const CASES = [
  'unbounded tail recursion',
  "a map over a long range, mapped again (the issue's list blow-up)",
  'a sort of a large range with a user function',
  'a reduce building a large string a little at a time',
  'nested maps over ranges with a function',
] as const;

const ordinaryDefinition = (sinkUrl: string): DefinitionInput => ({
  key: 'bench-hostile-ordinary',
  name: 'Benchmark: ordinary run beside hostile ones',
  category: 'benchmark',
  steps: [
    { id: 'greet', type: 'set', values: { greeting: 'Hello {{ input.name }}', total: '{{ $sum(input.items) }}' } },
    { id: 'check', type: 'condition', condition: 'vars.total > 2', then: [{ id: 'big', type: 'set', values: { big: true } }] },
    { id: 'call', type: 'http', method: 'POST', url: `${sinkUrl}/hook`, body: { greeting: '{{ vars.greeting }}', total: '{{ vars.total }}' } },
    { id: 'done', type: 'set', values: { status: '{{ steps.call.output.status }}' } },
  ],
});

const hostileDefinition = (index: number, expression: string): DefinitionInput => ({
  key: `bench-hostile-${index}`,
  name: `Benchmark: hostile expression ${index}`,
  category: 'benchmark',
  steps: [{ id: 'hostile', type: 'set', values: { x: `{{ ${expression} }}` } }],
});

interface LogLine {
  at: number;
  text: string;
}

/** What the worker's log said between two moments. */
function logCounts(lines: readonly LogLine[], from: number, to: number) {
  const within = lines.filter((l) => l.at >= from && l.at <= to);
  return {
    slowTask: within.filter((l) => l.text.includes('TMPRL1104')).length,
    notFound: within.filter((l) => /workflow task not found/i.test(l.text)).length,
    timedOut: within.filter((l) => /timed out/i.test(l.text) && !l.text.includes('TMPRL1104')).length,
  };
}

interface RunEnd {
  workflowId: string;
  runId: string;
  status: string;
  ms: number;
  message: string;
  taskTimeouts: number;
  taskFailures: number;
}

/** The deepest failure message of a closed run, as a user would read it. */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = '';
  while (e) {
    if (e.message) message = e.message;
    e = e.cause as typeof e;
  }
  return message;
}

async function runEnd(client: Client, workflowId: string): Promise<RunEnd> {
  const handle = client.workflow.getHandle(workflowId);
  const message = await handle.result().then(
    () => '',
    (err: unknown) => rootMessage(err),
  );
  const d = await handle.describe();
  const history = await countHistory(client, workflowId);
  return {
    workflowId,
    runId: d.runId,
    status: d.status.name,
    ms: (d.closeTime?.getTime() ?? Number.NaN) - d.startTime.getTime(),
    message,
    taskTimeouts: history.byType.WORKFLOW_TASK_TIMED_OUT ?? 0,
    taskFailures: history.byType.WORKFLOW_TASK_FAILED ?? 0,
  };
}

interface Round {
  kind: 'a' | 'b';
  index: number;
  ordinary: RunEnd[];
  hostile: (RunEnd & { name: string; limit: RegExp })[];
  log: ReturnType<typeof logCounts>;
  phases: PhaseTimes[];
  hostilePhases: PhaseTimes[];
  /** CPU time of the worker process over the round, in ms. */
  workerCpuMs: number;
  /** Wall time from the first start to the last run's close, in ms. */
  wallMs: number;
}

function startWorkerProcess(env: BenchEnv, taskQueue: string, onLine: (line: string) => void): { child: ChildProcess; stop(): Promise<void> } {
  const child = spawn(process.execPath, [entryFile('src/worker/main.ts', true)], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env.environmentFor(env.tuned, taskQueue),
      // Runs of this benchmark only: the reconciler would find nothing to do but waits past it.
      MIRROR_RECONCILE_INTERVAL_MS: '3600000',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) onLine(p);
    });
  }
  return { child, stop: () => stopChild(child) };
}

async function waitForPoller(client: Client, taskQueue: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the worker on ${taskQueue} exited with code ${child.exitCode}`);
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((pollers ?? []).length > 0) return;
    if (Date.now() > deadline) throw new Error(`no worker polled ${taskQueue} within 180 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Terminal colour codes (ESC [ … m). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const f2 = (v: number) => (Number.isFinite(v) ? `×${v.toFixed(2)}` : '–');

function sumPhases(all: PhaseTimes[]): Record<keyof PhaseTimes, number> {
  const keys: (keyof PhaseTimes)[] = ['activityDispatch', 'activityRun', 'workflowTaskDispatch', 'workflowTaskRun', 'total'];
  return Object.fromEntries(keys.map((k) => [k, median(all.map((p) => p[k]))])) as Record<keyof PhaseTimes, number>;
}

function describeMedianPhases(label: string, all: PhaseTimes[]): string {
  const p = sumPhases(all);
  return (
    `${label}: medians per run over ${all.length} runs, in the server's clock (each phase its own median, so they need not add up): start → close ${f0(p.total)} ms; ` +
    `workflow-task dispatch ${f0(p.workflowTaskDispatch)} ms, workflow tasks ${f0(p.workflowTaskRun)} ms, activity dispatch ${f0(p.activityDispatch)} ms, activities ${f0(p.activityRun)} ms`
  );
}

export const hostile: Benchmark = {
  name: 'hostile',
  summary: 'ordinary runs beside hostile-expression runs on the same worker: their latency alone and with five hostile runs started first',
  workload: () =>
    `one worker process (\`src/worker/main.ts\`, LOG_LEVEL=warn, its log searched); 1 warm-up round of ${HOSTILE_SIZES.ordinary} ordinary runs, then ` +
    `${HOSTILE_SIZES.rounds} rounds each, alternating: (a) ${HOSTILE_SIZES.ordinary} ordinary runs (\`set → condition → http POST to a loopback peer → set\`) ` +
    `started together; (b) ${CASES.length} hostile runs (a \`set\` of one corpus expression each) started first, then the same ${HOSTILE_SIZES.ordinary} ordinary runs`,
  async run(env, say: Say) {
    const size = HOSTILE_SIZES;
    const taskQueue = 'bench-hostile';
    const logPath = join(tmpdir(), `wfa-bench-hostile-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    const logFile = createWriteStream(logPath);
    const lines: LogLine[] = [];
    const worker = startWorkerProcess(env, taskQueue, (text) => {
      // The SDK core's lines come coloured: plain text to search and to quote.
      const plain = text.replace(ANSI, '');
      lines.push({ at: Date.now(), text: plain });
      logFile.write(`${plain}\n`);
    });
    try {
      await waitForPoller(env.tuned.client, taskQueue, worker.child);
      say(`hostile: worker pid ${worker.child.pid} polls ${taskQueue}; its log goes to ${logPath}`);
      const config = env.configFor(env.tuned, taskQueue);
      const stamp = Date.now().toString(36);
      const ordinaryDef = await install(env.db, ordinaryDefinition(env.api.url), `bench-hostile-ordinary-${stamp}`);
      const cases = CASES.map((name) => {
        const entry = HOSTILE.find((e) => e.name === name);
        if (!entry) throw new Error(`the hostile corpus has no entry named ${name}`);
        return { name, expression: entry.expression, limit: new RegExp(inRun(entry).error ?? '(?!)') };
      });
      const hostileDefs: Installed[] = [];
      for (const [i, c] of cases.entries()) hostileDefs.push(await install(env.db, hostileDefinition(i + 1, c.expression), `bench-hostile-${i + 1}-${stamp}`));

      /** As the product starts a run (src/executions/start.ts): the mirror row first, then the start; answers a function that starts it. */
      const prepare = async ({ row, document }: Installed, triggerData: Record<string, unknown>) => {
        const executionId = randomUUID();
        const workflowId = workflowIdFor(row.key, executionId);
        await insertExecution(env.db, mirrorRow(row, row.current_version, executionId, workflowId, 'manual', triggerData));
        const run = { definition: row, version: row.current_version, document, executionId, workflowId, triggerType: 'manual' as const, triggerData };
        return async () => {
          await env.tuned.client.workflow.start(INTERPRETER_WORKFLOW, interpreterStartOptions(config, run));
          return workflowId;
        };
      };
      const ordinary = { prepare: () => prepare(ordinaryDef, { name: 'Ada', items: [1, 2, 3] }) };
      const hostileVariants = hostileDefs.map((d) => ({ prepare: () => prepare(d, {}) }));

      const round = async (kind: 'a' | 'b', index: number): Promise<Round> => {
        const hostileStarts = kind === 'b' ? await Promise.all(hostileVariants.map((v) => v.prepare())) : [];
        const ordinaryStarts = await Promise.all(Array.from({ length: size.ordinary }, () => ordinary.prepare()));
        const cpu0 = processCpuMs(worker.child.pid!) ?? Number.NaN;
        const from = Date.now();
        // One start after another, the hostile runs first, so they reach the server (and the worker) ahead of the ordinary runs.
        const workflowIds: string[] = [];
        for (const s of [...hostileStarts, ...ordinaryStarts]) workflowIds.push(await s());
        const ends = await Promise.all(workflowIds.map((id) => runEnd(env.tuned.client, id)));
        const to = Date.now();
        const workerCpuMs = (processCpuMs(worker.child.pid!) ?? Number.NaN) - cpu0;
        const hostileEnds = ends.slice(0, hostileStarts.length).map((e, i) => ({ ...e, name: cases[i]!.name, limit: cases[i]!.limit }));
        const ordinaryEnds = ends.slice(hostileStarts.length);
        const phases = await Promise.all(ordinaryEnds.map((e) => phaseTimes(env.tuned.client, e.workflowId)));
        const hostilePhases = await Promise.all(hostileEnds.map((e) => phaseTimes(env.tuned.client, e.workflowId)));
        const r: Round = {
          kind,
          index,
          ordinary: ordinaryEnds,
          hostile: hostileEnds,
          log: logCounts(lines, from, to + 2_000),
          phases,
          hostilePhases,
          workerCpuMs,
          wallMs: to - from,
        };
        const ms = ordinaryEnds.map((e) => e.ms);
        say(
          `hostile: round ${kind}${index}: ordinary p50 ${f0(median(ms))} ms, p95 ${f0(quantile(ms, 0.95))} ms; ` +
            `${hostileEnds.map((h) => h.status).join(', ') || 'no hostile runs'}; log ${JSON.stringify(r.log)}`,
        );
        return r;
      };

      say(`hostile: warm-up round of ${size.ordinary} ordinary runs`);
      await round('a', 0);
      const rounds: Round[] = [];
      for (let i = 1; i <= size.rounds; i += 1) {
        rounds.push(await round('a', i));
        rounds.push(await round('b', i));
      }
      await new Promise((r) => setTimeout(r, 2_000));
      return report(rounds, lines, logPath, cases.map((c) => c.name));
    } finally {
      await worker.stop();
      await new Promise((r) => logFile.end(r));
      env.clearSinks();
    }
  },
};

function report(rounds: Round[], lines: LogLine[], logPath: string, caseNames: string[]) {
  const size = HOSTILE_SIZES;
  const alone = rounds.filter((r) => r.kind === 'a');
  const beside = rounds.filter((r) => r.kind === 'b');
  const p50 = (rs: Round[]) => median(rs.flatMap((r) => r.ordinary.map((e) => e.ms)));
  const p95 = (rs: Round[]) => quantile(rs.flatMap((r) => r.ordinary.map((e) => e.ms)), 0.95);
  const hostileOk = (h: Round['hostile'][number]) => h.status === 'FAILED' && h.limit.test(h.message);
  const ordinaryOk = (r: Round) => r.ordinary.filter((e) => e.status === 'COMPLETED').length;
  const rowOf = (label: string, rs: Round[], ratio: number | undefined): string[] => {
    const hostileRuns = rs.flatMap((r) => r.hostile);
    const sum = (pick: (r: Round) => number) => rs.reduce((a, r) => a + pick(r), 0);
    return [
      label,
      `${sum(ordinaryOk)}/${sum((r) => r.ordinary.length)}`,
      f0(p50(rs)),
      f0(p95(rs)),
      ratio === undefined ? '–' : f2(ratio),
      hostileRuns.length ? `${hostileRuns.filter(hostileOk).length}/${hostileRuns.length}` : '–',
      hostileRuns.length ? f0(median(hostileRuns.map((h) => h.ms))) : '–',
      String(sum((r) => r.log.slowTask)),
      String(sum((r) => r.log.notFound + r.log.timedOut)),
      String(sum((r) => [...r.ordinary, ...r.hostile].reduce((a, e) => a + e.taskTimeouts, 0))),
      `${f0(sum((r) => r.workerCpuMs) / 1000 / rs.length)} s / ${f0(sum((r) => r.wallMs) / 1000 / rs.length)} s`,
    ];
  };
  const rows: string[][] = [];
  for (let i = 0; i < alone.length; i += 1) {
    const a = alone[i]!;
    const b = beside[i];
    rows.push(rowOf(`${i + 1}a: ${size.ordinary} ordinary alone`, [a], undefined));
    if (b) rows.push(rowOf(`${i + 1}b: ${caseNames.length} hostile first, then ${size.ordinary} ordinary`, [b], p50([b]) / p50([a])));
  }
  const overall = p50(beside) / p50(alone);
  const pairedRatios = beside.map((b, i) => p50([b]) / p50([alone[i]!]));
  rows.push(rowOf(`all (a): ${alone.length} rounds`, alone, undefined));
  rows.push(rowOf(`all (b): ${beside.length} rounds`, beside, overall));

  const hostileRuns = beside.flatMap((r) => r.hostile);
  const allHostileOk = hostileRuns.every(hostileOk);
  const slow = rounds.reduce((a, r) => a + r.log.slowTask, 0);
  const realLog = rounds.reduce((a, r) => a + r.log.notFound + r.log.timedOut, 0);
  const realHistory = rounds.reduce((a, r) => a + [...r.ordinary, ...r.hostile].reduce((x, e) => x + e.taskTimeouts, 0), 0);
  const taskFailures = rounds.reduce((a, r) => a + [...r.ordinary, ...r.hostile].reduce((x, e) => x + e.taskFailures, 0), 0);
  const byCase = caseNames.map((name) => {
    const runs = hostileRuns.filter((h) => h.name === name);
    const msgs = [...new Set(runs.map((h) => h.message))];
    return (
      `"${name}": ${runs.map((h) => h.status).join(', ')} in ${runs.map((h) => `${f0(h.ms)} ms`).join(', ')}; ` +
      `${runs.every(hostileOk) ? 'names its limit' : 'DOES NOT name its limit'}: ${msgs.map((m) => `\`${m.replace(/`/g, "'")}\``).join(' / ')}`
    );
  });
  const hostileRunIds = new Set(hostileRuns.map((h) => h.runId));
  const slowLines = lines.filter((l) => l.text.includes('TMPRL1104'));
  const slowOfHostile = slowLines.filter((l) => [...hostileRunIds].some((id) => l.text.includes(id))).length;
  const notFoundLines = lines.filter((l) => /workflow task not found/i.test(l.text));
  const notFoundOfHostile = notFoundLines.filter((l) => [...hostileRunIds].some((id) => l.text.includes(id))).length;
  const timeoutsOfHostile = hostileRuns.reduce((a, e) => a + e.taskTimeouts, 0);
  const extraCpu = median(beside.map((r) => r.workerCpuMs)) - median(alone.map((r) => r.workerCpuMs));
  const warnings = lines.filter((l) => /TMPRL1104|workflow task not found|timed out/i.test(l.text)).slice(0, 3);

  const notes = [
    `Latency of an ordinary run: Temporal's start → close (the server's clock); p50 and p95 nearest-rank over the ${size.ordinary} runs of a round, or all rounds of a kind. ` +
      `b/a: each (b) round's ordinary p50 over that of the (a) round just before it; the overall row pools every round of a kind. The first (a) round ran as a warm-up and is not counted.`,
    `Rounds of a kind, p50 b/a: ${pairedRatios.map((r) => f2(r)).join(', ')}; pooled ${f2(overall)} (target ≤ ×${size.target.toFixed(2)}).`,
    ...byCase.map((c) => `Hostile ${c}`),
    `Worker log (LOG_LEVEL=warn, ${lines.length} lines in all, kept at ${logPath} after the run): ${slow} TMPRL1104 "Workflow task duration exceeded" warnings (a task longer than the SDK's 5 s threshold); ` +
      `${realLog} lines of "Workflow task not found" or "timed out". In the histories of all ${rounds.reduce((a, r) => a + r.ordinary.length + r.hostile.length, 0)} runs: ` +
      `${realHistory} WorkflowTaskTimedOut events, ${taskFailures} WorkflowTaskFailed events. Of the TMPRL1104 warnings ${slowOfHostile} are of hostile runs and ` +
      `${slowLines.length - slowOfHostile} of ordinary ones; of the "not found" lines ${notFoundOfHostile} of ${notFoundLines.length} are of hostile runs, and of the timeouts in histories ${timeoutsOfHostile} of ${realHistory}.` +
      (warnings.length ? ` First of them: ${warnings.map((w) => `\`${w.text.slice(0, 300).replace(/`/g, "'")}\``).join('; ')}` : ''),
    describeMedianPhases('Where an ordinary run\'s time goes, alone (a)', alone.flatMap((r) => r.phases)),
    describeMedianPhases(`Where it goes beside ${caseNames.length} hostile runs (b)`, beside.flatMap((r) => r.phases)),
    describeMedianPhases('A hostile run (its expression past the workflow thread\'s budget goes to the activity `evaluateExpression`)', beside.flatMap((r) => r.hostilePhases)),
    `Worker process CPU (user + system, from /proc) per round: alone ${alone.map((r) => `${f0(r.workerCpuMs)} ms`).join(', ')}; ` +
      `beside hostile runs ${beside.map((r) => `${f0(r.workerCpuMs)} ms`).join(', ')}.`,
    `What dominates: a (b) round costs the worker process (with the expression processes it reaped) ${f0(extraCpu)} ms more CPU than an (a) round, over a (b) round's ` +
      `${f0(median(beside.map((r) => r.wallMs)))} ms of wall time (median). The ordinary runs' workflow-task dispatch and run time grow from ` +
      `${f0(sumPhases(alone.flatMap((r) => r.phases)).workflowTaskDispatch + sumPhases(alone.flatMap((r) => r.phases)).workflowTaskRun)} ms ` +
      `to ${f0(sumPhases(beside.flatMap((r) => r.phases)).workflowTaskDispatch + sumPhases(beside.flatMap((r) => r.phases)).workflowTaskRun)} ms a run: ` +
      `they wait behind the hostile runs' first workflow tasks on the worker's one workflow thread (each spends up to its run's in-thread expression budget there), ` +
      `while the evaluations in \`evaluateExpression\` run in the worker's low-priority expression process. ` +
      `The ordinary runs end at p50 ${f0(p50(beside))} ms; the hostile runs at a median ${f0(median(hostileRuns.map((h) => h.ms)))} ms.`,
  ];
  const table = {
    title: `hostile: ${size.ordinary} ordinary runs alone and behind ${caseNames.length} hostile-expression runs on one worker`,
    latencyNote: "Temporal's start → close of each ordinary run",
    throughputUnit: '',
    rows: [],
    notes,
    counts: {
      headers: ['round', 'ordinary ok', 'p50 ms', 'p95 ms', 'p50 b/a', 'hostile FAILED naming limit', 'hostile median ms', 'TMPRL1104 (>5 s)', 'not found / timed out (log)', 'WFT timed out (history)', 'worker CPU / wall per round'],
      rows,
    },
  };
  return {
    table,
    targets: [
      {
        goal: `ordinary runs' p50 beside ${caseNames.length} hostile runs within ×${size.target} of the same runs alone`,
        met: overall <= size.target,
        measured: `pooled ×${overall.toFixed(2)} (rounds ${pairedRatios.map((r) => `×${r.toFixed(2)}`).join(', ')}): p50 ${f0(p50(beside))} ms against ${f0(p50(alone))} ms`,
      },
      {
        goal: 'no workflow-task timeout in the worker log',
        met: realLog === 0 && realHistory === 0,
        measured: `${realLog} "not found"/"timed out" log lines, ${realHistory} WorkflowTaskTimedOut events; ${slow} TMPRL1104 warnings of tasks over 5 s`,
      },
      {
        goal: 'each hostile run FAILED naming its limit',
        met: allHostileOk && hostileRuns.length > 0,
        measured: `${hostileRuns.filter(hostileOk).length} of ${hostileRuns.length}`,
      },
    ],
  };
}
