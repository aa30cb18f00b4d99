/**
 * How a step's failure is told: the message a run's failure gives, the error
 * type its mirror row and reports key on, and the failure that names the
 * step. Pure functions of the failure chain.
 */
import * as wf from '@temporalio/workflow';
import type { Step } from '../src/shared/definition';
import { ERROR_TYPES } from '../src/shared/run';

/** Wraps a step's error so the run's failure names the step that caused it. */
export function stepFailure(step: Step, err: unknown): unknown {
  if (wf.isCancellation(err)) return err;
  if (err instanceof wf.ApplicationFailure && err.type === ERROR_TYPES.StepFailed) return err;
  return wf.ApplicationFailure.create({
    type: ERROR_TYPES.StepFailed,
    message: `step "${step.id}" (${step.type}) failed: ${describeFailure(err)}`,
    nonRetryable: true,
    cause: asFailure(err),
  });
}

/** The most specific message in a failure chain (activity failures wrap the real cause). */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (current instanceof wf.TemporalFailure) {
    if (current instanceof wf.ApplicationFailure && current.type === ERROR_TYPES.StepFailed) {
      return current.message;
    }
    if (current.message && !(current instanceof wf.ActivityFailure)) message = current.message;
    current = current.cause;
  }
  return message;
}

/**
 * The type of the innermost failure that has one: an ApplicationFailure's
 * `type` (e.g. ProviderUnavailable), `Timeout` for a timeout. A failure that
 * names no type of the documented vocabulary (ERROR_TYPES: an error the
 * product did not expect, a called run terminated) is `InternalError`.
 */
export function failureType(err: unknown): string {
  let current: unknown = err;
  let type: string | undefined;
  while (current instanceof wf.TemporalFailure) {
    if (current instanceof wf.ApplicationFailure && current.type && current.type !== ERROR_TYPES.StepFailed) type = current.type;
    else if (current instanceof wf.TimeoutFailure) type = ERROR_TYPES.Timeout;
    current = current.cause;
  }
  if (type === undefined && err instanceof Error && !(err instanceof wf.TemporalFailure)) type = err.name;
  return type !== undefined && Object.hasOwn(ERROR_TYPES, type) ? type : ERROR_TYPES.InternalError;
}

export function asFailure(err: unknown): wf.TemporalFailure | undefined {
  return err instanceof wf.TemporalFailure ? err : undefined;
}
