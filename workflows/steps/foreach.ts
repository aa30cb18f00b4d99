/**
 * `foreach`: the same steps for every item of a list, at most `concurrency`
 * at once. Each iteration has its own step outputs and sees `loop.item` and
 * `loop.index`; step paths carry the index (`notify[3].send`), so deliveries
 * stay distinct per item.
 *
 * Lists longer than {@link FOREACH_INLINE_ITEMS} run in chunks, each a child
 * workflow, so the run's own history stays small whatever the list's length.
 */
import * as wf from '@temporalio/workflow';
import type { ForeachStep, Step } from '../../src/shared/definition';
import { ERROR_TYPES, type ForeachChunkResult, type RunInput } from '../../src/shared/run';
import { changeApplies, childWorkflowType } from '../generations';
import type { Iterates, Ports, RunSteps } from './types';

/** What a `foreach` step uses of the run; it also makes each iteration's context (`Iterates`). */
export type ForeachPorts = Ports<
  'input' | 'vars' | 'outputs' | 'frame' | 'evaluate' | 'flush' | 'hasPendingEvents' | 'chunkStarted' | 'chunkEnded'
>;

/** Items run in the workflow itself; longer lists go to child workflows of this many items each. */
export const FOREACH_INLINE_ITEMS = 500;

export const runForeach = async <C extends ForeachPorts & Iterates<C>>(step: ForeachStep, path: string, ctx: C, runSteps: RunSteps<C>) => {
  const items = await ctx.evaluate(step.items, step);
  if (!Array.isArray(items)) {
    throw wf.ApplicationFailure.create({
      type: ERROR_TYPES.ExpressionFailed,
      message: `step "${step.id}": items must be a list, got ${items === null ? 'null' : typeof items}`,
      nonRetryable: true,
    });
  }
  if (items.length > step.maxItems) {
    throw wf.ApplicationFailure.create({
      type: ERROR_TYPES.StepFailed,
      message: `step "${step.id}": the list has ${items.length} items, more than its maxItems of ${step.maxItems}`,
      nonRetryable: true,
    });
  }
  if (items.length <= FOREACH_INLINE_ITEMS) {
    const results = await runIterations(step, path, items, 0, ctx, runSteps);
    return { count: items.length, results };
  }

  await ctx.flush();
  const results: Record<string, unknown>[] = [];
  for (let offset = 0; offset < items.length; offset += FOREACH_INLINE_ITEMS) {
    const chunkItems = items.slice(offset, offset + FOREACH_INLINE_ITEMS);
    const input: RunInput = {
      ...ctx.input,
      chunk: { stepPath: path, offset, items: chunkItems, vars: { ...ctx.vars }, outputs: ctx.outputs, loop: ctx.frame.loop },
    };
    const workflowId = `${wf.workflowInfo().workflowId}:${path}:${offset}`;
    ctx.chunkStarted(workflowId);
    let done: ForeachChunkResult;
    try {
      done = await wf.executeChild<(input: RunInput) => Promise<ForeachChunkResult>>(childWorkflowType(), {
        workflowId,
        args: [input],
        staticSummary: `${step.id}: items ${offset}–${offset + chunkItems.length - 1} of ${items.length}`,
      });
    } finally {
      ctx.chunkEnded(workflowId);
    }
    results.push(...done.results);
    Object.assign(ctx.vars, done.vars);
  }
  return { count: items.length, results };
};

/** Iterations that may run in one workflow activation before the loop pauses. */
export const ITERATIONS_PER_TASK = 100;

const PATCH_LOOP_PAUSES = 'foreach-pause-long-tasks';

/**
 * Keeps loops of steps that never wait (set, condition, switch…) from running
 * hundreds of iterations in one workflow activation, which could pass the
 * SDK's deadline for one (5 s) and fail it: after {@link ITERATIONS_PER_TASK}
 * iterations without a wait, the loop writes its events to the mirror, a
 * local activity, which ends the activation (and shows the loop's progress
 * in Postgres). A timer would do it too, but costs about a second on the dev
 * server. A loop whose iterations wait anyway (an activity, a timer) never
 * pauses: each wait starts a new task. `historyLength` is the history's
 * length when the current task started, so it tells tasks apart, the same on replay.
 */
class TaskPacer {
  private taskStart = -1;
  private sincePause = 0;

  constructor(private readonly ctx: Ports<'hasPendingEvents' | 'flush'>) {}

  async afterIteration(): Promise<void> {
    const length = wf.workflowInfo().historyLength;
    if (length !== this.taskStart) {
      this.taskStart = length;
      this.sincePause = 0;
    }
    this.sincePause += 1;
    // Runs started before the pauses existed replay without them.
    if (this.sincePause >= ITERATIONS_PER_TASK && this.ctx.hasPendingEvents() && changeApplies(PATCH_LOOP_PAUSES)) {
      this.sincePause = 0;
      await this.ctx.flush();
    }
  }
}

/** Runs iterations `offset …` of a foreach in this workflow, `concurrency` at a time. */
export async function runIterations<C extends Ports<'frame' | 'hasPendingEvents' | 'flush'> & Iterates<C>>(
  step: ForeachStep,
  path: string,
  items: unknown[],
  offset: number,
  ctx: C,
  runSteps: RunSteps<C>,
): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = new Array(items.length);
  let next = 0;
  const pacer = new TaskPacer(ctx);
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      const index = offset + i;
      const iteration = ctx.iteration(`${path}[${index}].`, items[i], index);
      await runSteps(step.steps as Step[], iteration);
      results[i] = Object.fromEntries(Object.entries(iteration.frame.outputs).map(([id, o]) => [id, o.output]));
      await pacer.afterIteration();
    }
  };
  await Promise.all(Array.from({ length: Math.min(step.concurrency ?? 1, items.length) }, lane));
  return results;
}
