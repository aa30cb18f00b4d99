/**
 * How variants are measured side by side: warm-up, one run at a time in
 * alternating order, and batches at a fixed concurrency taking turns, so that
 * drift of the machine (other load, caches, the server's own state) reaches
 * every variant alike.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { median } from './stats';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

export interface Timed {
  ms: number;
  workflowId: string;
}

export interface Variant {
  name: string;
  /**
   * Does what must exist before the run (e.g. the mirror row the gateway
   * writes) and answers a function that starts the run and waits for its
   * result, timing only that.
   */
  prepare(): Promise<() => Promise<Timed>>;
}

/** Runs `start` and waits for its result; the time is from just before the start call to the result. */
export async function timed(workflowId: string, start: () => Promise<{ result(): Promise<unknown> }>): Promise<Timed> {
  const t0 = performance.now();
  const handle = await start();
  await handle.result();
  return { ms: performance.now() - t0, workflowId };
}

/** The variants in an order that rotates with `round`, so none is always first (two alternate: AB, BA, AB, …). */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function warmUp(variants: readonly Variant[], runsEach: number): Promise<void> {
  for (let i = 0; i < runsEach; i += 1) {
    for (const v of rotate(variants, i)) await (await v.prepare())();
  }
}

/** One run at a time, `runsEach` per variant, interleaved. Answers latency samples by variant. */
export async function oneAtATime(variants: readonly Variant[], runsEach: number): Promise<Map<string, Timed[]>> {
  const out = new Map<string, Timed[]>(variants.map((v) => [v.name, []]));
  for (let i = 0; i < runsEach; i += 1) {
    for (const v of rotate(variants, i)) out.get(v.name)!.push(await (await v.prepare())());
  }
  return out;
}

export interface BatchResult {
  /** Runs per second of each batch. */
  rates: number[];
  /** Latency of every run in the batches, measured under that concurrency. */
  runs: Timed[];
  /**
   * CPU time per run of each batch, in ms: of the whole machine (every
   * process: worker, Temporal, Postgres, peers; undefined where /proc/stat is
   * not to be read) and of the bench process (worker and client).
   */
  cpu: { machineMs: number | undefined; processMs: number }[];
}

/** CPU time the machine has spent busy, in ms, from /proc/stat; undefined off Linux. */
export function machineBusyMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
    const busy = fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
    return (busy * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: the unit of /proc/stat on every Linux architecture Node.js runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The processes whose CPU a benchmark tells apart, by the name the kernel knows them by. */
export const PROCESS_GROUPS = { temporal: /^temporal/, postgres: /^postgres/ } as const;

export type ProcessGroup = keyof typeof PROCESS_GROUPS;

/**
 * CPU time used so far by each group (Temporal dev server, Postgres with its
 * backends), in ms, from /proc/<pid>/stat; empty where /proc is not there.
 * Each process counts its own time and that of its children that have
 * exited, so a Postgres backend that ends between two readings (a pooled
 * connection closed when idle) stays counted, in the postmaster's figure,
 * rather than taking its whole past out of the difference.
 */
export function processGroupCpuMs(): Partial<Record<ProcessGroup, number>> {
  const used: Partial<Record<ProcessGroup, number>> = {};
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return used;
  }
  for (const pid of pids) {
    const stat = readStat(Number(pid));
    if (!stat) continue; // exited meanwhile
    const group = (Object.keys(PROCESS_GROUPS) as ProcessGroup[]).find((g) => PROCESS_GROUPS[g].test(stat.name));
    if (group) used[group] = (used[group] ?? 0) + stat.cpuMs;
  }
  return used;
}

/** CPU time used so far by one process (and its children that have exited), in ms; undefined once it is gone or off Linux. */
export function processCpuMs(pid: number): number | undefined {
  return readStat(pid)?.cpuMs;
}

function readStat(pid: number): { name: string; cpuMs: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  // After the name: state is field 3; utime, stime, cutime and cstime are fields 14 to 17 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return { name, cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND };
}

/** Median CPU per run of a variant's batches: machine and bench process, in ms. */
export function cpuPerRun(result: BatchResult): { machineMs: number | undefined; processMs: number } {
  const machine = result.cpu.map((c) => c.machineMs).filter((ms): ms is number => ms !== undefined);
  return {
    machineMs: machine.length ? median(machine) : undefined,
    processMs: median(result.cpu.map((c) => c.processMs)),
  };
}

/**
 * `rounds` batches per variant of `batch` runs with `concurrency` in flight,
 * the variants taking turns batch by batch. Everything a batch needs before
 * its runs start is prepared before its clock starts.
 */
export async function batches(
  variants: readonly Variant[],
  { rounds, batch, concurrency }: { rounds: number; batch: number; concurrency: number },
): Promise<Map<string, BatchResult>> {
  const out = new Map<string, BatchResult>(variants.map((v) => [v.name, { rates: [], runs: [], cpu: [] }]));
  for (let round = 0; round < rounds; round += 1) {
    for (const v of rotate(variants, round)) {
      const starts: (() => Promise<Timed>)[] = [];
      for (let i = 0; i < batch; i += 1) starts.push(await v.prepare());
      const machine0 = machineBusyMs();
      const process0 = process.cpuUsage();
      const t0 = performance.now();
      const runs = await pool(starts, concurrency);
      const seconds = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(process0);
      const machine1 = machineBusyMs();
      const result = out.get(v.name)!;
      result.rates.push(batch / seconds);
      result.runs.push(...runs);
      result.cpu.push({
        machineMs: machine0 !== undefined && machine1 !== undefined ? (machine1 - machine0) / batch : undefined,
        processMs: (used.user + used.system) / 1000 / batch,
      });
    }
  }
  return out;
}

/** Asks `check` every 250 ms until it answers true (an error counts as not yet); throws, naming `what`, after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs `tasks` with at most `concurrency` at once; the results in the tasks' order. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], concurrency: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next;
      next += 1;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, lane));
  return results;
}

/**
 * A note line: CPU per run in the batches, by variant, with each one's ratio
 * to the first; a steadier measure of cost than batch rates on a shared machine.
 */
export function describeCpu(batched: Map<string, BatchResult>, names: readonly string[]): string {
  const cpu = names.map((name) => ({ name, ...cpuPerRun(batched.get(name)!) }));
  const base = cpu[0]!;
  const part = (pick: (c: (typeof cpu)[number]) => number | undefined) =>
    cpu
      .map((c, i) => {
        const ms = pick(c);
        const baseMs = pick(base);
        if (ms === undefined) return `${c.name} –`;
        return `${c.name} ${ms.toFixed(1)} ms${i > 0 && baseMs ? ` (×${(ms / baseMs).toFixed(2)})` : ''}`;
      })
      .join(', ');
  return (
    `CPU per run in the batches (median of the batches): whole machine (worker, Temporal, Postgres, peers) ${part((c) => c.machineMs)}; ` +
    `bench process (worker and client) ${part((c) => c.processMs)}`
  );
}

export interface HistoryCount {
  total: number;
  /** The history's size as Temporal stores it (protobuf), in bytes. */
  bytes: number;
  /** Event type name (without the EVENT_TYPE_ prefix) → count. */
  byType: Record<string, number>;
}

/** The events in one run's history, in total and by type. */
export async function countHistory(client: Client, workflowId: string): Promise<HistoryCount> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byType: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const name = (temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
    byType[name] = (byType[name] ?? 0) + 1;
  }
  return { total: history.events?.length ?? 0, bytes: temporal.api.history.v1.History.encode(history).finish().length, byType };
}

/** A short line of the event types that tell variants apart. */
export function describeHistory(count: HistoryCount): string {
  const pick = (name: string) => count.byType[name] ?? 0;
  return (
    `${count.total} events (${(count.bytes / 1024).toFixed(1)} KiB): ${pick('WORKFLOW_TASK_COMPLETED')} workflow tasks, ` +
    `${pick('ACTIVITY_TASK_SCHEDULED')} activities, ${pick('MARKER_RECORDED')} markers (local activities), ` +
    `${pick('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES')} search-attribute upserts`
  );
}

/** Where a run's time went, from its history's event times: milliseconds by phase, summed over the run. */
export interface PhaseTimes {
  /** Activity scheduled → picked up by the worker (matching). */
  activityDispatch: number;
  /** Activity picked up → completion recorded (the activity itself, and its completion call). */
  activityRun: number;
  /** Workflow task scheduled → picked up by the worker. */
  workflowTaskDispatch: number;
  /** Workflow task picked up → completed (replay or cached activation, local activities, the completion call). */
  workflowTaskRun: number;
  /** Start → close of the run. */
  total: number;
}

export async function phaseTimes(client: Client, workflowId: string): Promise<PhaseTimes> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const E = temporal.api.enums.v1.EventType;
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;
  const at = new Map<number, number>();
  const out: PhaseTimes = { activityDispatch: 0, activityRun: 0, workflowTaskDispatch: 0, workflowTaskRun: 0, total: 0 };
  const events = history.events ?? [];
  for (const e of events) {
    const id = Number(e.eventId ?? 0);
    const time = ms(e.eventTime);
    at.set(id, time);
    switch (e.eventType) {
      case E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        out.activityDispatch += time - (at.get(Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? 0)) ?? time);
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        out.activityRun += time - (at.get(Number(e.activityTaskCompletedEventAttributes?.startedEventId ?? 0)) ?? time);
        break;
      case E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        out.workflowTaskDispatch += time - (at.get(Number(e.workflowTaskStartedEventAttributes?.scheduledEventId ?? 0)) ?? time);
        break;
      case E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        out.workflowTaskRun += time - (at.get(Number(e.workflowTaskCompletedEventAttributes?.startedEventId ?? 0)) ?? time);
        break;
      default:
    }
  }
  out.total = ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime);
  return out;
}

/** The phases as one line, e.g. for a table's notes. */
export function describePhases(p: PhaseTimes): string {
  const f = (v: number) => `${v.toFixed(0)} ms`;
  return (
    `${f(p.total)} in the server's clock: activity dispatch ${f(p.activityDispatch)}, activities ${f(p.activityRun)}, ` +
    `workflow-task dispatch ${f(p.workflowTaskDispatch)}, workflow tasks ${f(p.workflowTaskRun)}, ` +
    `between ${f(p.total - p.activityDispatch - p.activityRun - p.workflowTaskDispatch - p.workflowTaskRun)}`
  );
}
