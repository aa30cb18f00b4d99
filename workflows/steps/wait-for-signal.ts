import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { WaitForSignalStep } from '../../src/shared/definition';
import type { Ports, StepHandler } from './types';

/** What a `wait_for_signal` step uses of the run. */
export type WaitForSignalPorts = Ports<
  'resumedWait' | 'waitBegan' | 'stepWaiting' | 'awaitEvent' | 'stopAwaiting' | 'hasEvent' | 'takeEvent' | 'flush'
>;

/**
 * Waits until an event with the step's signal name arrives (through the
 * `deliverEvent` update) or the timeout passes. The event's payload is the
 * step's output; after a timeout, `onTimeout` runs and the output says so.
 */
export const runWaitForSignal: StepHandler<WaitForSignalStep, WaitForSignalPorts> = async (step, path, ctx, runSteps) => {
  // A run moved here while it waited keeps its deadline: the timeout counts from when it began to wait.
  const resumed = ctx.resumedWait(path, step);
  const since = resumed ? Date.parse(resumed.waitingSince) : Date.now();
  ctx.waitBegan(path, since);
  ctx.stepWaiting(path);
  ctx.awaitEvent(step.signal, path);
  await ctx.flush();
  const timeout = parseDuration(step.timeout) ?? 0;
  const timeoutMs = resumed ? Math.max(1, since + timeout - Date.now()) : timeout;
  const arrived = await wf.condition(() => ctx.hasEvent(step.signal), timeoutMs);
  ctx.stopAwaiting(step.signal);
  if (arrived) {
    const event = ctx.takeEvent(step.signal);
    return { timedOut: false, by: event?.by ?? null, data: event?.data ?? {}, receivedAt: event?.receivedAt };
  }
  await runSteps(step.onTimeout ?? [], ctx);
  return { timedOut: true };
};
