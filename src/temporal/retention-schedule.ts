/** The Temporal Schedule that runs the retention job (workflows/retention.ts) on a cron. */
import { type Client, ScheduleNotFoundError } from '@temporalio/client';
import type { Config } from '../config';

export const RETENTION_SCHEDULE_ID = 'wfa-retention';
export const RETENTION_WORKFLOW = 'retentionWorkflow';

/** Creates the schedule, or points it at `cron` if it exists. */
export async function scheduleRetention(client: Client, config: Config, cron: string, timezone = 'UTC'): Promise<'created' | 'updated'> {
  const spec = { cronExpressions: [cron], timezone };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: RETENTION_WORKFLOW,
    taskQueue: config.temporal.taskQueue,
    workflowId: 'wfa-retention-run',
    args: [],
    staticSummary: 'retention: deletes what the worker\'s RETENTION_DAYS and RETENTION_AUDIT_DAYS no longer keep',
  };
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  try {
    await handle.update((previous) => ({ ...previous, spec, action }));
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await client.schedule.create({ scheduleId: RETENTION_SCHEDULE_ID, spec, action, policies: { overlap: 'SKIP' } });
  return 'created';
}

export async function unscheduleRetention(client: Client): Promise<boolean> {
  try {
    await client.schedule.getHandle(RETENTION_SCHEDULE_ID).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}
