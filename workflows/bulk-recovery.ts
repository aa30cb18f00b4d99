/**
 * A bulk recovery batch as a workflow of its own, so it survives restarts of
 * workers and gateways: `concurrency` lanes each recover the batch's next run
 * until none is left (src/executions/recovery-batch.ts chooses and records them),
 * continuing as new every so many runs so the history stays small. One run
 * that cannot be recovered is recorded as FAILED and the batch goes on;
 * cancelling the workflow ends the batch CANCELLED, the runs not begun
 * SKIPPED.
 */
import * as wf from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { BulkRecoveryInput } from '../src/executions/recovery';

type Activities = ReturnType<typeof createActivities>;

const { recoverBatchItem } = wf.proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  // Temporal or Postgres away: try again, for as long as it takes; a run that cannot be recovered is not an error.
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
const { finishRecoveryBatch } = wf.proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

/** Runs recovered per workflow run before it continues as new: about 7 events each. */
const RUNS_PER_HISTORY = 500;

export async function bulkRecoveryWorkflow(input: BulkRecoveryInput): Promise<void> {
  let recovered = 0;
  let more = true;
  const lane = async () => {
    while (more && recovered < RUNS_PER_HISTORY) {
      if (await recoverBatchItem({ batchId: input.batchId })) recovered += 1;
      else more = false;
    }
  };
  try {
    await Promise.all(Array.from({ length: input.concurrency }, lane));
  } catch (err) {
    if (wf.isCancellation(err)) {
      await wf.CancellationScope.nonCancellable(() => finishRecoveryBatch({ batchId: input.batchId, status: 'CANCELLED' }));
    }
    throw err;
  }
  if (more) await wf.continueAsNew<typeof bulkRecoveryWorkflow>(input);
  await finishRecoveryBatch({ batchId: input.batchId, status: 'COMPLETED' });
}
