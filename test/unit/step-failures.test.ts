/**
 * How a step's failure is told (workflows/failures.ts): the message, the
 * documented error type, and the failure naming the step, through the
 * chains activities and child runs wrap their causes in.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import { describeFailure, failureType, stepFailure } from '../../workflows/failures';

const step = { id: 'send', type: 'email' } as Step;

function activityFailure(cause: Error): ActivityFailure {
  return new ActivityFailure('activity failed', 'sendEmail', '1', 'MAXIMUM_ATTEMPTS_REACHED', undefined, cause);
}

describe('a step\'s failure', () => {
  it('is described by its innermost message, past the activity failure that wraps it', () => {
    const refused = ApplicationFailure.create({ type: ERROR_TYPES.InvalidRecipient, message: 'no such mailbox' });
    expect(describeFailure(activityFailure(refused))).toBe('no such mailbox');
    expect(describeFailure(new Error('plain'))).toBe('plain');
    expect(describeFailure('text')).toBe('text');
  });

  it('is typed by the innermost documented type, a timeout as Timeout, anything else as InternalError', () => {
    expect(failureType(activityFailure(ApplicationFailure.create({ type: ERROR_TYPES.InvalidRecipient })))).toBe(ERROR_TYPES.InvalidRecipient);
    expect(failureType(activityFailure(new TimeoutFailure('timed out', undefined, 'START_TO_CLOSE' as never)))).toBe(ERROR_TYPES.Timeout);
    expect(failureType(ApplicationFailure.create({ type: 'SomethingElse' }))).toBe(ERROR_TYPES.InternalError);
    expect(failureType(new TypeError('x is undefined'))).toBe(ERROR_TYPES.InternalError);
  });

  it('names the step, once: a failure that already names one, and a cancellation, pass through', () => {
    const failure = stepFailure(step, activityFailure(ApplicationFailure.create({ type: ERROR_TYPES.InvalidRecipient, message: 'no such mailbox' })));
    expect(failure).toMatchObject({ type: ERROR_TYPES.StepFailed, nonRetryable: true, message: 'step "send" (email) failed: no such mailbox' });
    expect(stepFailure({ id: 'outer', type: 'condition' } as Step, failure)).toBe(failure);
    const cancelled = new CancelledFailure('cancelled');
    expect(stepFailure(step, cancelled)).toBe(cancelled);
    expect(describeFailure(failure)).toBe('step "send" (email) failed: no such mailbox');
  });
});
