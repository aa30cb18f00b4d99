/** The execution mirror: one row per run, one log row per step event. */
import { type Kysely, sql } from 'kysely';
import type { MirrorUpdate } from '../src/shared/run';
import { isTerminal, TERMINAL_STATUSES } from '../src/shared/status';
import type { Database, ExecutionLogRow, ExecutionRow, NewExecutionRow } from './schema';

export async function insertExecution(db: Kysely<Database>, row: NewExecutionRow): Promise<ExecutionRow> {
  return db.insertInto('workflow_executions').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Records the run id once Temporal accepted the start; never moves a row backwards. */
export async function markExecutionStarted(db: Kysely<Database>, id: string, runId: string): Promise<void> {
  await db
    .updateTable('workflow_executions')
    .set({
      run_id: runId,
      status: sql<string>`case when status = 'PENDING' then 'RUNNING' else status end`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** Settles a run that ended, or never started, outside the workflow's own reporting. */
export async function settleExecution(
  db: Kysely<Database>,
  id: string,
  settlement: { status: string; error?: string | null | undefined; finishedAt?: Date | undefined; runId?: string | undefined },
): Promise<void> {
  const finishedAt = settlement.finishedAt ?? new Date();
  await db
    .updateTable('workflow_executions')
    .set({
      status: settlement.status,
      error: settlement.error ?? null,
      finished_at: finishedAt,
      duration_ms: sql<number>`greatest(0, floor(extract(epoch from (${finishedAt}::timestamptz - started_at)) * 1000))`,
      current_step: null,
      updated_at: sql<Date>`now()`,
      ...(settlement.runId ? { run_id: settlement.runId } : {}),
    })
    .where('id', '=', id)
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .execute();
}

/**
 * Applies one batch from the workflow: log rows (idempotent on their natural
 * key, so a retried batch writes nothing twice) and the run's status.
 */
export async function applyMirrorUpdate(db: Kysely<Database>, update: MirrorUpdate): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (update.events.length > 0) {
      await trx
        .insertInto('workflow_execution_logs')
        .values(
          update.events.map((e) => ({
            execution_id: update.executionId,
            step_path: e.stepPath,
            step_id: e.stepId,
            step_type: e.stepType,
            event: e.event,
            attempt: e.attempt,
            message: e.message ?? null,
            output: e.output === undefined ? null : JSON.stringify(e.output),
            error: e.error ?? null,
            timestamp: e.at,
          })),
        )
        .onConflict((oc) => oc.columns(['execution_id', 'step_path', 'event', 'attempt']).doNothing())
        .execute();
    }
    if (update.status && isTerminal(update.status)) {
      await settleExecution(trx, update.executionId, {
        status: update.status,
        error: update.error,
        finishedAt: update.finishedAt ? new Date(update.finishedAt) : undefined,
      });
    } else if (update.status) {
      await trx
        .updateTable('workflow_executions')
        .set({ status: update.status, current_step: update.currentStep ?? null, updated_at: sql<Date>`now()` })
        .where('id', '=', update.executionId)
        .where('status', 'not in', [...TERMINAL_STATUSES])
        .execute();
    }
  });
}

export async function findExecution(db: Kysely<Database>, idOrWorkflowId: string): Promise<ExecutionRow | undefined> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrWorkflowId);
  return db
    .selectFrom('workflow_executions')
    .selectAll()
    .where(isUuid ? 'id' : 'workflow_id', '=', idOrWorkflowId)
    .executeTakeFirst();
}

export async function listExecutionLogs(db: Kysely<Database>, executionId: string): Promise<ExecutionLogRow[]> {
  return db
    .selectFrom('workflow_execution_logs')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('timestamp')
    .orderBy('id')
    .execute();
}

/** Runs the mirror still thinks are open, last touched before `before`: the reconciler's work list. */
export async function listUnsettledExecutions(
  db: Kysely<Database>,
  before: Date,
  limit = 100,
): Promise<Pick<ExecutionRow, 'id' | 'workflow_id' | 'run_id' | 'status' | 'started_at'>[]> {
  return db
    .selectFrom('workflow_executions')
    .select(['id', 'workflow_id', 'run_id', 'status', 'started_at'])
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .where('updated_at', '<', before)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** Marks a row as looked at, so the reconciler does not revisit it at once. */
export async function touchExecution(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('workflow_executions').set({ updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
}
