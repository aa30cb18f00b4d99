/**
 * How a step calls its activities: its retry policy and timeout over the
 * run's defaults, the activities proxied with them (each call waiting out
 * outages of the product's Postgres), and the key its deliveries are
 * deduplicated by. The run's own proxies (mirror writes, expressions
 * evaluated outside the thread) live with the parts that use them.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import { parseDuration } from '../../src/shared/duration';
import type { RetryPolicy, Step } from '../../src/shared/definition';
import type { RunSettings } from '../../src/shared/run';
import { activitiesWaitingForDatabase } from '../database-waits';

export type Activities = ReturnType<typeof createActivities>;

export const DEFAULT_RETRY: RetryPolicy = {
  maximumAttempts: 5,
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
};

/** The start-to-close timeout of a step without its own. @default 300 s */
export function defaultTimeoutMs(settings: RunSettings | undefined): number {
  return (settings?.defaultStepTimeoutSeconds ?? 300) * 1000;
}

/** Activity options for a step: its own retry policy and timeout over the defaults. */
export function stepActivityOptions(
  step: Step & { retry?: RetryPolicy; timeout?: string },
  purpose: string,
  settings: RunSettings | undefined,
): ActivityOptions {
  const retry = { ...DEFAULT_RETRY, ...step.retry };
  const startToClose = step.timeout ? (parseDuration(step.timeout) ?? defaultTimeoutMs(settings)) : defaultTimeoutMs(settings);
  const heartbeat = (settings?.stepHeartbeatTimeoutSeconds ?? 0) * 1000;
  return {
    startToCloseTimeout: startToClose,
    // A dead worker's attempt is retried after this, not after the whole start-to-close timeout.
    ...(heartbeat > 0 && heartbeat < startToClose ? { heartbeatTimeout: heartbeat } : {}),
    retry: {
      maximumAttempts: retry.maximumAttempts,
      initialInterval: retry.initialInterval ? parseDuration(retry.initialInterval) : undefined,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: retry.maximumInterval ? parseDuration(retry.maximumInterval) : undefined,
      nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
    },
    summary: `${step.id}: ${step.name ?? purpose}`,
  };
}

/**
 * The activities, called with a step's options so the UI shows its summary;
 * each call waits out outages of the product's Postgres (database-waits.ts).
 */
export function stepActivities(options: ActivityOptions, settings: RunSettings | undefined): Activities {
  return activitiesWaitingForDatabase(options, settings?.databaseWaitLimitSeconds);
}

/** The key a step's deliveries are deduplicated by: the same on every attempt and replay of the step. */
export function deliveryKey(path: string): string {
  return `${wf.workflowInfo().workflowId}/${path}`;
}
