/**
 * The steps of a bulk recovery batch (workflows/bulk-recovery.ts): recover
 * the batch's next run, and end the batch. Each step is safe to run again
 * (see src/executions/recovery-batch.ts); the Temporal client they reset and start
 * runs with is the worker's own, connected on first use.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { finishBatch } from '../db/recovery';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import { recoverNextItem } from '../src/executions/recovery-batch';
import { connectTemporal } from '../src/temporal/client';

export function createRecoveryActivities(config: Config, db: Kysely<Database>) {
  let client: Promise<Client> | undefined;
  const temporal = () => (client ??= connectTemporal(config).then((c) => c.client));
  return {
    /** Recovers the batch's next run; false once none is left. */
    async recoverBatchItem({ batchId }: { batchId: string }): Promise<boolean> {
      const info = Context.current().info;
      // This activity across its attempts: a retry takes up the run an attempt that died had in hand.
      const run = info.workflowExecution;
      const worker = `${run?.workflowId}/${run?.runId}/${info.activityId}`;
      return recoverNextItem({ db, client: await temporal(), config }, batchId, worker);
    },
    async finishRecoveryBatch({ batchId, status }: { batchId: string; status: 'COMPLETED' | 'CANCELLED' }): Promise<void> {
      await finishBatch(db, batchId, status);
    },
  };
}
