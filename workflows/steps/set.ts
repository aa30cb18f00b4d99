import type { SetStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runSet: StepHandler<SetStep> = async (step, _path, ctx) => {
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(step.values)) {
    values[name] = await ctx.render(value, step);
  }
  Object.assign(ctx.vars, values);
  return values;
};
