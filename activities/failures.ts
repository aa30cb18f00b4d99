/** Builds the failures activities throw, from the shared vocabulary of error types. */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/client';
import { issueMessage } from '../src/shared/issue-messages';
import type { Checked } from '../src/shared/recipients';
import { ERROR_TYPES, type ErrorType, type RetryHint } from '../src/shared/run';

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
    ...(retryAfterMs !== undefined ? { nextRetryDelay: retryAfterMs, details: [{ retryAfterMs } satisfies RetryHint] } : {}),
  });
}

/**
 * A refusal that says only "not now": retried by the activity's policy, and
 * benign, so the worker logs each attempt at debug rather than at warn.
 */
export function busy(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ERROR_TYPES[type], message, nonRetryable: false, category: ApplicationFailureCategory.BENIGN });
}

/**
 * Runs `work`, which needs the product's own Postgres, answering a retryable
 * `DatabaseUnavailable` when Postgres is out of reach. Runs started with
 * `databaseWaitLimitSeconds` list that type as not retryable, so the failure
 * reaches the workflow at once, and the step waits there for Postgres on a
 * durable timer without spending its retries (workflows/database-waits.ts).
 */
export async function needsDatabase<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    const { message, code } = err as { message?: string; code?: string };
    // Benign: the worker logs such an attempt at debug, not once per attempt at warn; the pool says it once.
    throw ApplicationFailure.create({
      type: ERROR_TYPES.DatabaseUnavailable,
      message: `${what} needs Postgres, which is unreachable (${message || code || String(err)}); the step waits for it`,
      nonRetryable: false,
      category: ApplicationFailureCategory.BENIGN,
    });
  }
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

/** A schema field made of a recipient check (src/shared/recipients.ts): the checked value, or an issue in the check's own words. */
export function recipientField<T>(check: (value: unknown) => Checked<T>) {
  return z.unknown().transform((value, ctx): T => {
    const result = check(value);
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: result.problem });
    return z.NEVER;
  });
}
