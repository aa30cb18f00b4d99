import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { DelayStep } from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import type { Ports, StepHandler } from './types';

/** What a `delay` step uses of the run. */
export type DelayPorts = Ports<'resumedWait' | 'waitBegan' | 'stepWaiting' | 'evaluate' | 'flush'>;

/** Waits a duration, or until a moment computed from the run's data (workflow time, so replay agrees). */
export const runDelay: StepHandler<DelayStep, DelayPorts> = async (step, path, ctx) => {
  // A run moved here while it waited goes on counting from when it began to wait.
  const resumed = ctx.resumedWait(path, step);
  let ms: number;
  let label: string;
  if (step.until !== undefined) {
    const moment = await ctx.evaluate(step.until, step);
    const at = typeof moment === 'number' ? moment : typeof moment === 'string' ? Date.parse(moment) : Number.NaN;
    if (!Number.isFinite(at)) {
      throw wf.ApplicationFailure.create({
        type: ERROR_TYPES.ExpressionFailed,
        message: `step "${step.id}": until must give an ISO 8601 time or epoch milliseconds, got ${JSON.stringify(moment)}`,
        nonRetryable: true,
      });
    }
    ms = Math.max(0, at - Date.now());
    label = `wait until ${new Date(at).toISOString()}`;
  } else {
    // The schema guarantees the duration parses.
    ms = parseDuration(step.duration ?? '0ms') ?? 0;
    label = `wait ${step.duration}`;
    if (resumed) ms = Math.max(0, Date.parse(resumed.waitingSince) + ms - Date.now());
  }
  ctx.waitBegan(path, resumed ? Date.parse(resumed.waitingSince) : Date.now());
  ctx.stepWaiting(path);
  await ctx.flush();
  // A moment already past needs no timer; a duration always had one, and keeps it for replay's sake.
  if ((step.until === undefined && !resumed) || ms > 0) await wf.sleep(ms, { summary: `${step.id}: ${step.name ?? label}` });
  return { waitedMs: ms };
};
