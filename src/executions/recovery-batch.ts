/**
 * A batch's steps, run as activities by its workflow (workflows/bulk-recovery.ts):
 * take the next run and recover it. Each is safe to run again: a reset checks
 * which run is latest first, a replay's new execution has an id made of the
 * batch and the original's.
 */
import { createHash } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { attachResetRun, findExecution } from '../../db/executions';
import { claimRun, findBatch, type ItemOutcome, markResetAsked, settleBatchItem, takeBatchItem } from '../../db/recovery';
import type { RecoveryBatchItemRow, RecoveryBatchRow } from '../../db/schema';
import { isTerminal } from '../shared/status';
import { type RecoveryDeps, RecoveryRefused, replayClosedExecution, resetExecution } from './recover-one';
import type { ResetTarget } from './reset';

/** The id of the replay a batch starts for a run: the same on every attempt, so a retry finds it. */
export function replayIdFor(batchId: string, executionId: string): string {
  const h = createHash('sha256').update(`${batchId}/${executionId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Takes the batch's next run (or the one this same activity had taken on an
 * earlier attempt that died) and recovers it. Answers false when no run is
 * left. `worker` names the activity, without its attempt.
 */
export async function recoverNextItem(deps: RecoveryDeps, batchId: string, worker: string): Promise<boolean> {
  const { db } = deps;
  const batch = await findBatch(db, batchId);
  if (!batch) return false;
  const item = await takeBatchItem(db, batchId, worker);
  if (!item) return false;
  const outcome = await recoverItem(deps, batch, item);
  await settleBatchItem(db, batchId, item.execution_id, outcome);
  return true;
}

async function recoverItem(deps: RecoveryDeps, batch: RecoveryBatchRow, item: RecoveryBatchItemRow): Promise<ItemOutcome> {
  const { execution_id: executionId, run_id: runId } = item;
  const resetAsked = (item.result as { resetAsked?: boolean } | null)?.resetAsked === true;
  const { db, client } = deps;
  const claimedBy = await claimRun(db, executionId, runId, batch.id);
  if (claimedBy && claimedBy !== batch.id) return { outcome: 'SKIPPED', detail: `batch ${claimedBy} acted on this run` };
  const row = await findExecution(db, executionId);
  if (!row) return { outcome: 'SKIPPED', detail: 'the execution no longer exists' };
  const actor = { name: batch.requested_by, keyId: batch.via_key ?? undefined };
  try {
    if (batch.action === 'replay') {
      const id = replayIdFor(batch.id, executionId);
      const earlier = await findExecution(db, id);
      if (earlier) return { outcome: 'DONE', result: { executionId: id, replayOf: executionId } };
      const replay = await replayClosedExecution(deps, row, id);
      return { outcome: 'DONE', result: { executionId: replay.executionId, runId: replay.runId, replayOf: executionId } };
    }
    // A reset: act only on the run the batch took; a later one means it was reset meanwhile,
    // by an earlier attempt of this step (which said so before it asked) or by someone else.
    const latest = await client.workflow.getHandle(row.workflow_id).describe();
    if (latest.runId !== runId) {
      if (!resetAsked) return { outcome: 'SKIPPED', detail: `the run was reset outside this batch (now run ${latest.runId})` };
      await attachResetRun(db, row.id, runId, latest.runId);
      return { outcome: 'DONE', result: { runId: latest.runId, previousRunId: runId } };
    }
    if (!resetAsked && (row.run_id !== runId || !isTerminal(row.status))) {
      return { outcome: 'SKIPPED', detail: `the execution is ${row.status} on run ${row.run_id}, not the failed run the batch took` };
    }
    await markResetAsked(db, batch.id, executionId);
    const done = await resetExecution(deps, row, (batch.reset_to ?? 'failed-step') as ResetTarget, `${batch.reason} [batch ${batch.id}]`, actor, {
      resuming: resetAsked,
    });
    return { outcome: 'DONE', result: { runId: done.runId, previousRunId: done.previousRunId, ...(done.redoes ? { redoes: done.redoes } : {}) } };
  } catch (err) {
    if (err instanceof RecoveryRefused) return { outcome: 'FAILED', detail: err.message };
    if (err instanceof WorkflowNotFoundError) return { outcome: 'FAILED', detail: 'Temporal no longer has the run (past the namespace retention); replay it instead' };
    throw err;
  }
}
