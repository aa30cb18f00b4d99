import { sleep } from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { DelayStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runDelay: StepHandler<DelayStep> = async (step, path, ctx) => {
  // The schema guarantees the duration parses.
  const ms = parseDuration(step.duration) ?? 0;
  ctx.stepWaiting(path);
  await ctx.flush();
  await sleep(ms, { summary: `${step.id}: ${step.name ?? `wait ${step.duration}`}` });
  return { waitedMs: ms };
};
