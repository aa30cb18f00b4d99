/**
 * Keeps the mirror right when the workflow could not report for itself: a run
 * terminated or timed out from outside, a run that never started, or events
 * the workflow could not write while Postgres was down. It reads the truth
 * from Temporal (describe, then the `state` query, which also works on closed
 * runs) and writes it idempotently.
 *
 * Each pass asks Temporal's visibility for the runs closed since the last
 * one in a way a run does not report itself (terminated, timed out, failed,
 * cancelled), and settles those still open in the mirror at once; open rows
 * left unwritten are asked about one by one, on a backoff, for the rest.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { isDatabaseUnavailable } from '../../db/client';
import { markExecutionStarted } from '../../db/execution-starts';
import { applyMirrorUpdate, listOpenExecutionsByWorkflowId, listUnsettledExecutions, settleExecution, touchExecution } from '../../db/executions';
import type { Database } from '../../db/schema';
import type { Logger } from '../logger';
import type { RunState, StepLogEvent } from '../shared/run';
import type { ExecutionStatus } from '../shared/status';

const TEMPORAL_TO_MIRROR: Record<string, ExecutionStatus> = {
  COMPLETED: 'SUCCESS',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  TERMINATED: 'TERMINATED',
  TIMED_OUT: 'TIMED_OUT',
  // A run that continued as new lives on in its next run; the row stays open.
};

export interface ReconcilerOptions {
  db: Kysely<Database>;
  client: Client;
  logger: Logger;
  /** How often to look. @default 5000 */
  intervalMs?: number;
  /** Rows touched more recently than this are left to the workflow. @default 2000 */
  graceMs?: number;
  /**
   * A RUNNING row is looked at again only once it has gone untouched for a
   * quarter of its run's age, at least this long (and at most 2 minutes):
   * a running run writes its own row at its waits and its end, and asking
   * Temporal about every open run every pass cost each run of a busy batch
   * a describe and an update (`npm run bench -- gateway-load`), and as many
   * runs as wait for days, all the time. @default 10000
   */
  runningGraceMs?: number;
  /**
   * How far back the first pass looks for runs closed from outside; later
   * passes look back to the one before, with an overlap for visibility's lag.
   * @default 600000
   */
  closedLookbackMs?: number;
}

/** Closes a run does not write to the mirror itself (it is not running to do so), in visibility's names. */
const CLOSED_FROM_OUTSIDE = ['Terminated', 'TimedOut', 'Failed', 'Canceled'];
/** How far a pass's look at closed runs overlaps the previous one: visibility may record a close late. */
const VISIBILITY_OVERLAP_MS = 30_000;
/**
 * How much later than the row's last write a close must be for the list to
 * settle the row: a row reopened for a reset or a replay was written after
 * the close it answers (its old run's), and Postgres's and Temporal's clocks
 * may differ a little. A close nearer than this is left to the backoff path.
 */
const CLOSE_AFTER_WRITE_MS = 2_000;
/** Closed runs one pass settles from the visibility list at most; the rest wait for the next. */
const CLOSED_PER_PASS = 500;

export interface Reconciler {
  /** One pass; returns how many rows it settled. */
  reconcileOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createReconciler({
  db,
  client,
  logger,
  intervalMs = 5_000,
  graceMs = 2_000,
  runningGraceMs = 10_000,
  closedLookbackMs = 600_000,
}: ReconcilerOptions): Reconciler {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let closedSince = new Date(Date.now() - closedLookbackMs);

  async function reconcileOne(row: { id: string; workflow_id: string; run_id: string | null; status: string; started_at: Date }): Promise<boolean> {
    const handle = client.workflow.getHandle(row.workflow_id);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // The gateway wrote the row but died before Temporal accepted the start.
        await settleExecution(db, row.id, { status: 'FAILED', error: 'the run was never started on Temporal' });
        return true;
      }
      throw err;
    }
    const status = TEMPORAL_TO_MIRROR[description.status.name];
    if (!status) {
      // Still running: a row whose start was never marked (the gateway's write after its answer
      // failed, and no worker has run the workflow yet) learns its run id now.
      if (!row.run_id) await markExecutionStarted(db, row.id, description.runId);
      else await touchExecution(db, row.id);
      return false;
    }
    let events: StepLogEvent[] = [];
    let error: string | undefined;
    try {
      const state = await handle.query<RunState>('state');
      events = eventsFromState(state);
      error = state.error;
    } catch (err) {
      logger.debug({ err, workflowId: row.workflow_id }, 'state query failed; settling status only');
    }
    await applyMirrorUpdate(db, { executionId: row.id, events });
    await settleExecution(db, row.id, {
      status,
      error: error ?? (status === 'SUCCESS' ? null : `run ${status.toLowerCase().replace('_', ' ')} in Temporal`),
      finishedAt: description.closeTime ?? new Date(),
      runId: description.runId,
    });
    return true;
  }

  /**
   * Runs visibility says closed from outside since the last look, their
   * close times by run id by workflow id; undefined when it could not be asked (the backoff
   * path then covers them).
   */
  async function closedFromOutside(): Promise<Map<string, Map<string, number>> | undefined> {
    const passStart = new Date();
    const since = new Date(closedSince.getTime() - VISIBILITY_OVERLAP_MS).toISOString();
    const statuses = CLOSED_FROM_OUTSIDE.map((s) => `'${s}'`).join(', ');
    const ids = new Map<string, Map<string, number>>();
    let listed = 0;
    try {
      for await (const run of client.workflow.list({ query: `CloseTime >= '${since}' AND ExecutionStatus IN (${statuses})`, pageSize: 100 })) {
        ids.set(run.workflowId, (ids.get(run.workflowId) ?? new Map()).set(run.runId, run.closeTime?.getTime() ?? 0));
        if (++listed >= CLOSED_PER_PASS) return ids;
      }
    } catch (err) {
      logger.debug({ err }, 'could not list recently closed runs; open rows are asked about one by one');
      return undefined;
    }
    closedSince = passStart;
    return ids;
  }

  async function reconcileOnce(): Promise<number> {
    const closed = await closedFromOutside();
    // A row is settled from the list only by a close of its own run, after its last write: a run
    // reset or replayed lives on under the same workflow id, its row reopened after the old run closed.
    const closedAfterWrite = (row: { workflow_id: string; run_id: string | null; updated_at: Date }) =>
      [...(closed?.get(row.workflow_id) ?? [])].some(
        ([runId, closedAt]) => (row.run_id === null || row.run_id === runId) && closedAt > row.updated_at.getTime() + CLOSE_AFTER_WRITE_MS,
      );
    const settledNow = closed?.size ? (await listOpenExecutionsByWorkflowId(db, [...closed.keys()])).filter(closedAfterWrite) : [];
    const rows = [...settledNow, ...(await listUnsettledExecutions(db, new Date(Date.now() - graceMs), { runningGraceMs }))];
    const seen = new Set<string>();
    let settled = 0;
    for (const row of rows) {
      if (seen.has(row.id)) continue;
      seen.add(row.id);
      try {
        if (await reconcileOne(row)) settled += 1;
      } catch (err) {
        if (isDatabaseUnavailable(err)) throw err;
        logger.warn({ err, executionId: row.id }, 'could not reconcile execution');
      }
    }
    if (settled > 0) logger.info({ settled }, 'mirror reconciled');
    return settled;
  }

  return {
    reconcileOnce,
    start() {
      const tick = () => {
        running = reconcileOnce()
          // Postgres out of reach is logged once by the pool, not at every pass.
          .catch((err: unknown) => (isDatabaseUnavailable(err) ? undefined : logger.warn({ err }, 'mirror reconciliation failed')))
          .finally(() => {
            if (timer !== undefined) timer = setTimeout(tick, intervalMs);
          });
      };
      timer = setTimeout(tick, intervalMs);
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

/** Rebuilds log events from the workflow's own step states. */
export function eventsFromState(state: RunState): StepLogEvent[] {
  const events: StepLogEvent[] = [];
  for (const step of state.steps) {
    const base = { stepPath: step.path, stepId: step.id, stepType: step.type, attempt: step.attempts };
    if (step.status === 'SKIPPED') {
      events.push({ ...base, event: 'SKIPPED', at: step.finishedAt ?? new Date().toISOString(), message: 'guard was false' });
      continue;
    }
    if (step.startedAt) events.push({ ...base, event: 'STARTED', at: step.startedAt });
    if (step.status === 'COMPLETED' && step.finishedAt) {
      events.push({ ...base, event: 'COMPLETED', at: step.finishedAt, output: step.output });
    }
    if (step.status === 'FAILED' && step.finishedAt) {
      events.push({ ...base, event: 'FAILED', at: step.finishedAt, error: step.error });
    }
  }
  return events;
}
