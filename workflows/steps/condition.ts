import { isTruthy } from '../../src/shared/expressions';
import type { ConditionStep } from '../../src/shared/definition';
import type { Ports, StepHandler } from './types';

export const runCondition: StepHandler<ConditionStep, Ports<'evaluate'>> = async (step, _path, ctx, runSteps) => {
  const matched = isTruthy(await ctx.evaluate(step.condition, step));
  await runSteps(matched ? step.then : (step.else ?? []), ctx);
  return { branch: matched ? 'then' : 'else' };
};
