/**
 * Keeps the mirror right when the workflow could not report for itself: a run
 * terminated or timed out from outside, a run that never started, or events
 * the workflow could not write while Postgres was down. It reads the truth
 * from Temporal (describe, then the `state` query, which also works on closed
 * runs) and writes it idempotently.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { isDatabaseUnavailable } from '../../db/client';
import { markExecutionStarted } from '../../db/execution-starts';
import { applyMirrorUpdate, listUnsettledExecutions, settleExecution, touchExecution } from '../../db/executions';
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
}

export interface Reconciler {
  /** One pass; returns how many rows it settled. */
  reconcileOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createReconciler({ db, client, logger, intervalMs = 5_000, graceMs = 2_000, runningGraceMs = 10_000 }: ReconcilerOptions): Reconciler {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

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

  async function reconcileOnce(): Promise<number> {
    const rows = await listUnsettledExecutions(db, new Date(Date.now() - graceMs), { runningGraceMs });
    let settled = 0;
    for (const row of rows) {
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
