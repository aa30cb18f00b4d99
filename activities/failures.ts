/** Builds the failures activities throw, from the shared vocabulary of error types. */
import { ApplicationFailure } from '@temporalio/common';
import { ERROR_TYPES, type ErrorType } from '../src/shared/run';

/** A failure retrying cannot fix: the step fails at once. */
export function permanent(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ERROR_TYPES[type], message, nonRetryable: true });
}

/** A failure the step's retry policy may overcome; `retryAfterMs` honours a provider's hint. */
export function transient(type: ErrorType, message: string, retryAfterMs?: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: ERROR_TYPES[type],
    message,
    nonRetryable: false,
    ...(retryAfterMs !== undefined ? { nextRetryDelay: retryAfterMs } : {}),
  });
}
