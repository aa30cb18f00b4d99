/** Builds the failures activities throw, from the shared vocabulary of error types. */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { issueMessage } from '../src/shared/issue-messages';
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

/**
 * Validates an activity's rendered input. Templates can produce any JSON
 * type, so a bad value is a permanent failure naming the step type and field:
 * retrying would render the same value again.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, stepType: string, type: ErrorType = 'ProviderRejected'): z.output<S> {
  const parsed = schema.safeParse(raw, { error: issueMessage });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'} ${issue.message}`).join('; ');
  throw permanent(type, `${stepType} step input is invalid: ${problems}`);
}
