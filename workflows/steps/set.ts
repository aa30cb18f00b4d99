import type { SetStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runSet: StepHandler<SetStep> = async (step, _path, ctx) => {
  let values = ctx.renderPlainFields(step.values, step);
  if (!values) {
    values = {};
    for (const [name, value] of Object.entries(step.values)) {
      values[name] = await ctx.render(value, step);
    }
  }
  Object.assign(ctx.vars, values);
  return values;
};
