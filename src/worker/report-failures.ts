/**
 * Reports activity failures nobody meant. Activities fail on purpose with
 * typed Temporal failures (a provider refusing, a bad recipient, a
 * cancellation): those are the run's business, recorded in its history and
 * the mirror. Anything else thrown (a bug, the database gone) is reported as
 * an error, with the activity and workflow it happened in but never the
 * activity's arguments, which carry trigger data.
 */
import { TemporalFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { reportError } from '../observability/sentry';

export const reportUnexpectedActivityFailures: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        if (!(err instanceof TemporalFailure)) {
          const { activityType, workflowType, taskQueue, attempt, workflowExecution } = ctx.info;
          reportError(err, {
            tags: { service: 'worker', activityType, workflowType, taskQueue, attempt },
            extra: { workflowId: workflowExecution?.workflowId, runId: workflowExecution?.runId },
          });
        }
        throw err;
      }
    },
  },
});
