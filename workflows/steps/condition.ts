import { isTruthy } from '../../src/shared/expressions';
import type { ConditionStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runCondition: StepHandler<ConditionStep> = async (step, _path, ctx, runSteps) => {
  const matched = isTruthy(await ctx.evaluate(step.condition, step));
  await runSteps(matched ? step.then : (step.else ?? []), ctx);
  return { branch: matched ? 'then' : 'else' };
};
