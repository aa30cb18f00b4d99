/**
 * The retention job (db/retention.ts) as a workflow, which the Temporal
 * Schedule `wfa-retention` starts (`npm run clean-logs -- --schedule <cron>`).
 * Its result is the count of rows deleted per table, in the Temporal UI.
 */
import * as wf from '@temporalio/workflow';
import type { createActivities } from '../activities';

const { cleanRetention } = wf.proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

export async function retentionWorkflow(): Promise<Record<string, number>> {
  return cleanRetention();
}
