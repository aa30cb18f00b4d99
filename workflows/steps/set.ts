import type { SetStep } from '../../src/shared/definition';
import { isFirstType } from '../generations';
import type { Ports, StepHandler } from './types';

/** What a `set` step uses of the run. */
export type SetPorts = Ports<'vars' | 'render' | 'renderPlainFields'>;

/** Sets variables: at once in a V2 run when every placeholder is a plain path, else rendering each value in turn. */
export const runSet: StepHandler<SetStep, SetPorts> = (step, _path, ctx) => (isFirstType() ? setValues(step, ctx) : (setPlainValues(step, ctx) ?? setValues(step, ctx, false)));

function setPlainValues(step: SetStep, ctx: SetPorts): Record<string, unknown> | undefined {
  const values = ctx.renderPlainFields(step.values, step);
  if (values) Object.assign(ctx.vars, values);
  return values;
}

/** One value after another; first all at once if `tryPlain` (V1 runs, as they were recorded). */
async function setValues(step: SetStep, ctx: SetPorts, tryPlain = true): Promise<Record<string, unknown>> {
  let values = tryPlain ? ctx.renderPlainFields(step.values, step) : undefined;
  if (!values) {
    values = {};
    for (const [name, value] of Object.entries(step.values)) {
      values[name] = await ctx.render(value, step);
    }
  }
  Object.assign(ctx.vars, values);
  return values;
}
