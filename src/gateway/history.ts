/**
 * A run's Temporal event history, summarized for people: one entry per event
 * with its id, time and short type, plus, for activity and timer events, what
 * ran (activity type, summary), which attempt, and why it failed.
 *
 * Payloads are never copied out: workflow input, activity arguments and
 * results, signal data, markers and failure details carry trigger data and
 * step outputs, which may hold personal data or secrets. Only names, counters,
 * the user-metadata summary (a label the workflow sets for display) and
 * failure messages leave this module.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
type Payload = proto.temporal.api.common.v1.IPayload;

export interface HistoryEntry {
  eventId: number;
  time: string | null;
  /** The event type without its prefix: `ActivityTaskScheduled`, `TimerFired`. */
  type: string;
  activityType?: string;
  timerId?: string;
  /** The summary the workflow attached (e.g. `mail: send email`), repeated on the events that follow from it. */
  summary?: string;
  attempt?: number;
  failure?: string;
}

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` → `ActivityTaskScheduled`. */
export function shortEventType(eventType: HistoryEvent['eventType']): string {
  const name = typeof eventType === 'number' ? temporal.api.enums.v1.EventType[eventType] : eventType;
  if (!name) return 'Unspecified';
  return String(name)
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

export function summarizeHistory(events: readonly HistoryEvent[]): HistoryEntry[] {
  /** What the scheduling event said, by its event id, for the events that refer back to it. */
  const scheduled = new Map<number, { activityType?: string; timerId?: string; summary?: string; attempt?: number }>();
  const timers = new Map<string, number>();

  return events.map((event) => {
    const eventId = Number(event.eventId ?? 0);
    const type = shortEventType(event.eventType);
    const entry: HistoryEntry = { eventId, time: isoTime(event.eventTime), type };
    const summary = decodeSummary(event.userMetadata?.summary);
    if (summary !== undefined) entry.summary = summary;

    if (event.activityTaskScheduledEventAttributes) {
      const activityType = event.activityTaskScheduledEventAttributes.activityType?.name ?? undefined;
      scheduled.set(eventId, { activityType, summary });
      Object.assign(entry, defined({ activityType }));
    } else if (event.timerStartedEventAttributes) {
      const timerId = event.timerStartedEventAttributes.timerId ?? undefined;
      scheduled.set(eventId, { timerId, summary });
      if (timerId) timers.set(timerId, eventId);
      Object.assign(entry, defined({ timerId }));
    } else {
      const ref = referenceOf(event, timers);
      if (ref !== undefined) {
        const origin = scheduled.get(ref);
        const started = event.activityTaskStartedEventAttributes;
        if (origin && started?.attempt) origin.attempt = started.attempt;
        Object.assign(
          entry,
          defined({
            activityType: origin?.activityType,
            timerId: origin?.timerId,
            summary: entry.summary ?? origin?.summary,
            attempt: started?.attempt ?? origin?.attempt,
            failure: started?.lastFailure?.message ?? undefined,
          }),
        );
      }
    }
    const failure = failureMessage(event);
    if (failure !== undefined) entry.failure = failure;
    return entry;
  });
}

/** The event id of the activity's scheduled event or the timer's started event an event refers to. */
function referenceOf(event: HistoryEvent, timers: Map<string, number>): number | undefined {
  const attributes =
    event.activityTaskStartedEventAttributes ??
    event.activityTaskCompletedEventAttributes ??
    event.activityTaskFailedEventAttributes ??
    event.activityTaskTimedOutEventAttributes ??
    event.activityTaskCancelRequestedEventAttributes ??
    event.activityTaskCanceledEventAttributes;
  if (attributes?.scheduledEventId != null) return Number(attributes.scheduledEventId);
  const timer = event.timerFiredEventAttributes ?? event.timerCanceledEventAttributes;
  if (timer?.timerId) return timers.get(timer.timerId);
  return undefined;
}

/** The message of the failure an event records (activity, workflow task, workflow), never its details. */
function failureMessage(event: HistoryEvent): string | undefined {
  const failure =
    event.activityTaskFailedEventAttributes?.failure ??
    event.activityTaskTimedOutEventAttributes?.failure ??
    event.workflowTaskFailedEventAttributes?.failure ??
    event.workflowExecutionFailedEventAttributes?.failure;
  if (!failure) return undefined;
  const cause = failure.cause?.message;
  return cause && cause !== failure.message ? `${failure.message}: ${cause}` : (failure.message ?? undefined);
}

function decodeSummary(payload: Payload | null | undefined): string | undefined {
  if (!payload) return undefined;
  try {
    const value: unknown = defaultPayloadConverter.fromPayload(payload as never);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function isoTime(ts: HistoryEvent['eventTime']): string | null {
  if (!ts) return null;
  const ms = Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null && v !== '')) as Partial<T>;
}
