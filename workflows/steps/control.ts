/** Steps that shape the run's path: fail, succeed, switch, parallel. */
import * as wf from '@temporalio/workflow';
import type { FailStep, ParallelStep, SucceedStep, SwitchStep } from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import type { Ports, StepHandler } from './types';

/** Thrown by `succeed`: unwinds every step and ends the run successfully. */
export class RunSucceeded extends Error {
  constructor(readonly output: unknown) {
    super('the run succeeded early');
    this.name = 'RunSucceeded';
  }
}

export const runFail: StepHandler<FailStep, Ports<'render'>> = async (step, _path, ctx) => {
  const message = await ctx.render(step.message, step);
  throw wf.ApplicationFailure.create({
    type: ERROR_TYPES.StepFailed,
    message: `step "${step.id}" (fail): ${typeof message === 'string' ? message : JSON.stringify(message)}`,
    nonRetryable: true,
  });
};

export const runSucceed: StepHandler<SucceedStep, Ports<'render'>> = async (step, _path, ctx) => {
  throw new RunSucceeded(step.output === undefined ? null : await ctx.render(step.output, step));
};

export const runSwitch: StepHandler<SwitchStep, Ports<'evaluate'>> = async (step, _path, ctx, runSteps) => {
  const value = await ctx.evaluate(step.value, step);
  const index = step.cases.findIndex((c) => JSON.stringify(c.equals) === JSON.stringify(value));
  const chosen = index >= 0 ? step.cases[index]?.steps : step.default;
  await runSteps(chosen ?? [], ctx);
  return { value, case: index >= 0 ? index : 'default' };
};

export const runParallel: StepHandler<ParallelStep, unknown> = async (step, _path, ctx, runSteps) => {
  const scopes = step.branches.map(() => new wf.CancellationScope());
  const runs = step.branches.map((branch, i) => scopes[i]!.run(() => runSteps(branch, ctx)).then(() => i));
  const cancelOthers = (except?: number) => scopes.forEach((scope, i) => i !== except && scope.cancel());
  if ((step.mode ?? 'all') === 'first') {
    const winner = await Promise.race(runs);
    cancelOthers(winner);
    await Promise.allSettled(runs);
    return { mode: 'first', winner };
  }
  try {
    await Promise.all(runs);
  } catch (err) {
    // One branch failed: stop the others rather than let them run on unobserved.
    cancelOthers();
    await Promise.allSettled(runs);
    throw err;
  }
  return { mode: 'all', branches: step.branches.length };
};
