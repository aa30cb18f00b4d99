import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { WaitForSignalStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

/**
 * Waits until an event with the step's signal name arrives (through the
 * `deliverEvent` update) or the timeout passes. The event's payload is the
 * step's output; after a timeout, `onTimeout` runs and the output says so.
 */
export const runWaitForSignal: StepHandler<WaitForSignalStep> = async (step, path, ctx, runSteps) => {
  ctx.stepWaiting(path);
  ctx.awaitEvent(step.signal, path);
  await ctx.flush();
  const timeoutMs = parseDuration(step.timeout) ?? 0;
  const arrived = await wf.condition(() => ctx.hasEvent(step.signal), timeoutMs);
  ctx.stopAwaiting(step.signal);
  if (arrived) {
    const event = ctx.takeEvent(step.signal);
    return { timedOut: false, by: event?.by ?? null, data: event?.data ?? {}, receivedAt: event?.receivedAt };
  }
  await runSteps(step.onTimeout ?? [], ctx);
  return { timedOut: true };
};
