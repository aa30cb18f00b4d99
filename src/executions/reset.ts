/**
 * Resetting a run in Temporal to the step that failed: the new run keeps the
 * history before that step (so earlier steps, deliveries included, do not run
 * again) and runs the failed step and everything after it anew, under the same
 * workflow id, execution id and mirror row.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type ResetRequest = temporal.api.workflowservice.v1.IResetWorkflowExecutionRequest;

export const RESET_TARGETS = ['failed-step', 'start'] as const;
export type ResetTarget = (typeof RESET_TARGETS)[number];

export class ResetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResetRefused';
  }
}

/** The reset point and what it stands for, found in a closed run's history. */
export interface ResetPoint {
  /** The workflow task whose completion scheduled the failed step; the new run redoes it. */
  workflowTaskFinishEventId: number;
  /** The activity or child workflow that failed, for the answer, e.g. `sendEmail`. */
  failed?: string | undefined;
}

/**
 * The reset point of a run: for `failed-step`, the workflow task that
 * scheduled the last activity or child workflow that failed (or timed out);
 * for `start`, the run's first workflow task.
 *
 * @throws ResetRefused when the history has no such point (e.g. the run failed
 *   in an expression, which would fail again the same way)
 */
export function findResetPoint(events: HistoryEvent[], to: ResetTarget): ResetPoint {
  if (to === 'start') {
    const first = events.find((e) => e.workflowTaskCompletedEventAttributes);
    if (!first) throw new ResetRefused('the run never completed a workflow task; replay it instead');
    return { workflowTaskFinishEventId: Number(first.eventId) };
  }
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    const activity = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    const child = e.childWorkflowExecutionFailedEventAttributes ?? e.childWorkflowExecutionTimedOutEventAttributes;
    const scheduledId = activity?.scheduledEventId ?? child?.initiatedEventId;
    if (scheduledId === undefined || scheduledId === null) continue;
    const scheduled = byId.get(Number(scheduledId));
    const taskId =
      scheduled?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId ??
      scheduled?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowTaskCompletedEventId;
    if (taskId === undefined || taskId === null) continue;
    const failed = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? scheduled?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    return { workflowTaskFinishEventId: Number(taskId), failed: failed ?? undefined };
  }
  throw new ResetRefused(
    'the run did not fail in an activity or a called workflow, so resetting to the failed step would fail the same way; reset to "start" or replay it',
  );
}

/** Resets the run to `to`; answers the new run's id and what it redoes. */
export async function resetRun(
  client: Client,
  namespace: string,
  execution: { workflowId: string; runId: string },
  to: ResetTarget,
  reason: string,
): Promise<{ runId: string } & ResetPoint> {
  const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
  const point = findResetPoint(history.events ?? [], to);
  const request: temporal.api.workflowservice.v1.IResetWorkflowExecutionRequest = {
    namespace,
    workflowExecution: execution,
    reason,
    // An int64 field: protobufjs encodes a number as well as a Long.
    workflowTaskFinishEventId: point.workflowTaskFinishEventId as unknown as ResetRequest['workflowTaskFinishEventId'],
    requestId: randomUUID(),
  };
  const res: temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse = await client.workflowService.resetWorkflowExecution(request);
  return { runId: res.runId ?? '', ...point };
}
