import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { shortEventType, summarizeHistory } from '../../src/gateway/history';

const { temporal } = proto;
const E = temporal.api.enums.v1.EventType;
const payload = (value: unknown) => defaultPayloadConverter.toPayload(value) as proto.temporal.api.common.v1.IPayload;
const at = (s: number) => ({ seconds: 1764072000 + s, nanos: 250_000_000 }) as never;

describe('history summaries', () => {
  it('name events briefly', () => {
    expect(shortEventType(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).toBe('ActivityTaskScheduled');
    expect(shortEventType(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)).toBe('WorkflowExecutionStarted');
    expect(shortEventType(null)).toBe('Unspecified');
  });

  it('carry activity type, summary, attempt and failure, and never a payload', () => {
    const secret = 'trigger-data-that-must-not-leak';
    const entries = summarizeHistory([
      {
        eventId: 1 as never,
        eventTime: at(0),
        eventType: E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        userMetadata: { summary: payload('Welcome (v1)') },
        workflowExecutionStartedEventAttributes: { input: { payloads: [payload({ email: secret })] } },
      },
      {
        eventId: 5 as never,
        eventTime: at(1),
        eventType: E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        userMetadata: { summary: payload('mail: send email') },
        activityTaskScheduledEventAttributes: { activityType: { name: 'email' }, input: { payloads: [payload({ to: secret })] } },
      },
      {
        eventId: 6 as never,
        eventTime: at(2),
        eventType: E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activityTaskStartedEventAttributes: { scheduledEventId: 5 as never, attempt: 3, lastFailure: { message: 'SMTP down' } },
      },
      {
        eventId: 7 as never,
        eventTime: at(3),
        eventType: E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        activityTaskFailedEventAttributes: {
          scheduledEventId: 5 as never,
          startedEventId: 6 as never,
          failure: { message: 'recipient refused', applicationFailureInfo: { details: { payloads: [payload(secret)] } } },
        },
      },
      {
        eventId: 8 as never,
        eventTime: at(4),
        eventType: E.EVENT_TYPE_TIMER_STARTED,
        userMetadata: { summary: payload('pause: wait 1s') },
        timerStartedEventAttributes: { timerId: '9', startToFireTimeout: { seconds: 1 as never } },
      },
      { eventId: 10 as never, eventTime: at(5), eventType: E.EVENT_TYPE_TIMER_FIRED, timerFiredEventAttributes: { timerId: '9', startedEventId: 8 as never } },
      {
        eventId: 11 as never,
        eventTime: at(6),
        eventType: E.EVENT_TYPE_MARKER_RECORDED,
        markerRecordedEventAttributes: { markerName: 'core_local_activity', details: { data: { payloads: [payload(secret)] } } },
      },
    ]);

    expect(entries).toEqual([
      { eventId: 1, time: '2025-11-25T12:00:00.250Z', type: 'WorkflowExecutionStarted', summary: 'Welcome (v1)' },
      { eventId: 5, time: '2025-11-25T12:00:01.250Z', type: 'ActivityTaskScheduled', activityType: 'email', summary: 'mail: send email' },
      {
        eventId: 6,
        time: '2025-11-25T12:00:02.250Z',
        type: 'ActivityTaskStarted',
        activityType: 'email',
        summary: 'mail: send email',
        attempt: 3,
        failure: 'SMTP down',
      },
      {
        eventId: 7,
        time: '2025-11-25T12:00:03.250Z',
        type: 'ActivityTaskFailed',
        activityType: 'email',
        summary: 'mail: send email',
        attempt: 3,
        failure: 'recipient refused',
      },
      { eventId: 8, time: '2025-11-25T12:00:04.250Z', type: 'TimerStarted', timerId: '9', summary: 'pause: wait 1s' },
      { eventId: 10, time: '2025-11-25T12:00:05.250Z', type: 'TimerFired', timerId: '9', summary: 'pause: wait 1s' },
      { eventId: 11, time: '2025-11-25T12:00:06.250Z', type: 'MarkerRecorded' },
    ]);
    expect(JSON.stringify(entries)).not.toContain(secret);
  });
});
