/**
 * The one generic workflow: it walks a pinned definition's steps, keeps
 * control flow here and runs every side effect as an activity. Read top to
 * bottom: a run, its top-level steps, a waiting step it may move from, then
 * any step; then the other ways a run begins (a schedule, a foreach chunk).
 * What a run answers from outside is in messages.ts, how a failure is told in
 * failures.ts, and the run's state in context.ts.
 */
import * as wf from '@temporalio/workflow';
import type { Step } from '../src/shared/definition';
import { allSteps } from '../src/shared/step-tree';
import { isTruthy } from '../src/shared/expressions';
import {
  ERROR_TYPES,
  type ForeachChunkResult,
  type RunInput,
  type RunResult,
  type ScheduledRunInput,
} from '../src/shared/run';
import { DefinitionVersion, TemplateKey } from '../src/shared/search-attributes';
import { isMigratableStep } from '../src/shared/migration';
import { type Activities, type Frame, RunContext } from './context';
import { asFailure, describeFailure, failureType, stepFailure } from './failures';
import { changeApplies, isFirstType } from './generations';
import { installHandlers } from './messages';
import { handlerFor } from './steps';
import { RunSucceeded } from './steps/control';
import { runIterations } from './steps/foreach';

export { decideUpdate, deliverEventUpdate, migrateUpdate, stateQuery } from './messages';

/** Interpreter changes guarded for runs already in flight; see test/integration/replay.test.ts. */
const PATCH_CONTINUE_AS_NEW = 'continue-as-new-between-steps';
const PATCH_CHUNK_LOOP_PARENT = 'foreach-chunk-loop-parent';
/**
 * Top-level waits run in a scope of their own, so a run can move onto
 * another definition version while it waits. Asked at a run's first such
 * wait, so runs without one record no marker; a run that began waiting
 * before it replays as it ran, and cannot move until its next wait.
 */
const PATCH_MOVABLE_WAITS = 'movable-waits-2026-12';

/** History length past which a run continues as new, unless its settings say otherwise. */
export const CONTINUE_AS_NEW_AFTER_EVENTS = 10_000;

/** Largest carried state (JSON) a continuation takes; past it the run goes on in its current history. */
const MAX_CARRY_BYTES = 1_500_000;

/**
 * The workflow type every run starts as now (INTERPRETER_WORKFLOW): every
 * change made to the interpreter before it applies without a patch.
 */
export function interpreterWorkflowV2(start: RunInput | ScheduledRunInput): Promise<RunResult | ForeachChunkResult> {
  return runInterpreter(start);
}

/**
 * The first workflow type, served for runs started as it: the changes made
 * since apply where its history has their patches (workflows/generations.ts).
 * Not async, like V2: a wrapper would add microtask turns to the runs'
 * replay.
 */
export function interpreterWorkflow(start: RunInput | ScheduledRunInput): Promise<RunResult | ForeachChunkResult> {
  return runInterpreter(start);
}

async function runInterpreter(start: RunInput | ScheduledRunInput): Promise<RunResult | ForeachChunkResult> {
  const input = 'scheduled' in start ? await prepareScheduledRun(start) : start;
  if (input.chunk) return runChunk(input);
  const ctx = new RunContext(input);
  installHandlers(ctx);

  if (input.resume) ctx.restore(input.resume);
  // Moved onto another version: the run's search attribute follows (the mirror's row follows at its next write).
  if (input.resume?.migration) wf.upsertSearchAttributes([{ key: DefinitionVersion, value: input.definition.version }]);

  let output: unknown = null;
  try {
    await runTopLevel(input, ctx);
  } catch (err) {
    // Not an ending: the run goes on in its continuation.
    if (err instanceof wf.ContinueAsNew) throw err;
    if (err instanceof RunSucceeded) {
      output = err.output;
      ctx.status = 'SUCCESS';
      await ctx.flush({ status: 'SUCCESS' });
      return { status: 'SUCCESS', steps: ctx.steps.size, vars: ctx.vars, output };
    }
    const cancelled = wf.isCancellation(err);
    ctx.status = cancelled ? 'CANCELLED' : 'FAILED';
    ctx.error = describeFailure(err);
    await wf.CancellationScope.nonCancellable(() => ctx.flush({ status: ctx.status, error: ctx.error }));
    if (cancelled || err instanceof wf.ApplicationFailure) throw err;
    throw wf.ApplicationFailure.create({ type: ERROR_TYPES.StepFailed, message: ctx.error, nonRetryable: true, cause: asFailure(err) });
  }
  ctx.status = 'SUCCESS';
  await ctx.flush({ status: 'SUCCESS' });
  return { status: 'SUCCESS', steps: ctx.steps.size, vars: ctx.vars, output };
}

/**
 * Runs the definition's top-level steps. Between two of them, once the
 * history has grown long (past the run's setting, or when the server
 * suggests it), the run continues as new: same workflow id, a fresh history,
 * the variables, outputs and undelivered events carried over. Loops and
 * branches never continue mid-way; a large `foreach` runs its items in child
 * workflows instead.
 */
async function runTopLevel(input: RunInput, ctx: RunContext): Promise<void> {
  const steps = input.definition.document.steps;
  for (let index = input.resume?.next ?? 0; index < steps.length; index++) {
    const step = steps[index]!;
    const running = isMigratableStep(step) && !input.chunk ? runMovable(step, input, ctx) : runStep(step, ctx.path(step.id), ctx);
    if (running) await running;
    if (index + 1 < steps.length && historyIsLong(input) && changeApplies(PATCH_CONTINUE_AS_NEW)) {
      // Too large a state is not carried (it would exceed Temporal's payload limit): the run goes on here.
      if (JSON.stringify(ctx.carryOver(index + 1)).length > MAX_CARRY_BYTES) {
        wf.log.warn('history is long but the run state is too large to carry over; going on in this history', { next: step.id });
        continue;
      }
      await ctx.flush();
      // Approvals and events being handled finish here, not halfway in the next run; the carry is taken after them.
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof interpreterWorkflow>({ ...input, resume: ctx.carryOver(index + 1) });
    }
  }
}

/**
 * A top-level waiting step, in a scope the `migrate` update can end: the run
 * then logs the step MIGRATED, writes the mirror and continues as new on the
 * other version at the step it maps to, the wait carried over. A run being
 * cancelled is cancelled, whatever was asked.
 */
async function runMovable(step: Step, input: RunInput, ctx: RunContext): Promise<void> {
  const path = ctx.path(step.id);
  if (!movableWaits()) {
    ctx.enterMovable(path, step, undefined, `this run began waiting at "${path}" before runs could move; it can move at its next wait`);
    try {
      await runStep(step, path, ctx);
    } finally {
      ctx.leaveMovable();
    }
    return;
  }
  const scope = new wf.CancellationScope();
  ctx.enterMovable(path, step, scope);
  try {
    await scope.run(() => runStep(step, path, ctx) ?? Promise.resolve());
  } catch (err) {
    const migration = ctx.migration;
    if (!migration || !wf.isCancellation(err) || wf.CancellationScope.current().consideredCancelled) throw err;
    ctx.leaveMovable();
    ctx.stepMoved(path, step, migration.carry, migration.input.definition.version);
    await continueOnVersion(input, ctx, migration.index, migration);
  } finally {
    ctx.leaveMovable();
  }
  // The wait ended on its own in the moment the move was accepted: the run still moves, past the step it maps to.
  const migration = ctx.migration;
  if (migration) await continueOnVersion(input, ctx, migration.index + 1, { ...migration, carry: { ...migration.carry, toStep: '' } });
}

/** Continues as new on the version a move asked for, at top-level step `next` of it. */
async function continueOnVersion(input: RunInput, ctx: RunContext, next: number, migration: NonNullable<RunContext['migration']>): Promise<never> {
  await wf.CancellationScope.nonCancellable(() => ctx.flush());
  await wf.condition(wf.allHandlersFinished);
  return wf.continueAsNew<typeof interpreterWorkflow>({
    ...input,
    definition: migration.input.definition,
    resume: { ...ctx.carryOver(next), migration: migration.carry },
  });
}

async function runSteps(steps: Step[], ctx: RunContext): Promise<void> {
  for (const step of steps) {
    const running = runStep(step, ctx.path(step.id), ctx);
    if (running) await running;
  }
}

/**
 * Runs one step; undefined when it has finished at once. In a V2 run, a step
 * without a guard whose handler answers at once (a `set` of plain paths)
 * finishes without a promise: the SDK records a stack trace for every promise
 * workflow code makes, so each costs. A V1 run's steps all run through
 * {@link runStepAsync}, taking the microtask turns its history was recorded with.
 */
function runStep(step: Step, path: string, ctx: RunContext): Promise<void> | undefined {
  if (isFirstType() || step.if !== undefined) return runStepAsync(step, path, ctx);
  ctx.stepStarted(path, step);
  let output: unknown;
  try {
    output = handlerFor(step)(step, path, ctx, runSteps);
  } catch (err) {
    return afterFailure(step, path, ctx, err);
  }
  if (output instanceof Promise) {
    return output.then(
      (value: unknown) => ctx.stepFinished(path, step, value),
      (err: unknown) => afterFailure(step, path, ctx, err),
    );
  }
  ctx.stepFinished(path, step, output);
  return undefined;
}

/** A V2 step's failure: thrown at once, or after its compensating steps; undefined to go on. */
function afterFailure(step: Step, path: string, ctx: RunContext, err: unknown): Promise<void> | undefined {
  const compensate = failStep(step, path, ctx, err);
  if (!compensate) return undefined;
  return runSteps(compensate, ctx).then(() => {
    throw stepFailure(step, err);
  });
}

/**
 * Records a step's failure and throws what ends the step at once (a `succeed`
 * step's ending, a cancellation, the failure itself under `onError: fail`);
 * answers the steps that compensate for it, or undefined under `onError: continue`.
 */
function failStep(step: Step, path: string, ctx: RunContext, err: unknown): Step[] | undefined {
  if (err instanceof RunSucceeded) {
    ctx.stepFinished(path, step, err.output);
    throw err;
  }
  if (wf.isCancellation(err)) throw err;
  if (!ctx.steps.get(path)?.error) ctx.stepFailed(path, step, describeFailure(err), failureType(err));
  const onError = step.onError ?? 'fail';
  if (onError === 'continue') return undefined;
  if (onError === 'fail') throw stepFailure(step, err);
  return onError.compensate;
}

async function runStepAsync(step: Step, path: string, ctx: RunContext): Promise<void> {
  if (step.if !== undefined && !isTruthy(await ctx.evaluate(step.if, step))) {
    ctx.stepSkipped(path, step);
    return;
  }
  ctx.stepStarted(path, step);
  let output: unknown;
  try {
    output = await handlerFor(step)(step, path, ctx, runSteps);
  } catch (err) {
    const compensate = failStep(step, path, ctx, err);
    if (!compensate) return;
    await runSteps(compensate, ctx);
    throw stepFailure(step, err);
  }
  ctx.stepFinished(path, step, output);
}

// --- the other ways a run begins -----------------------------------------------------

/**
 * A run started by a Temporal Schedule: pins the definition's current version
 * and writes its mirror row through an activity (so the choice is in
 * history), then runs like any other.
 */
async function prepareScheduledRun({ scheduled }: ScheduledRunInput): Promise<RunInput> {
  const info = wf.workflowInfo();
  const triggerData = { scheduledAt: info.startTime.toISOString() };
  const prepared = await wf
    .proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 10 }, summary: 'pin the definition version' })
    .prepareCall({ definitionKey: scheduled.definitionKey, workflowId: info.workflowId, triggerData, triggerType: 'schedule', runId: info.runId });
  wf.upsertSearchAttributes([
    { key: DefinitionVersion, value: prepared.definition.version },
    ...(prepared.templateKey ? [{ key: TemplateKey, value: prepared.templateKey }] : []),
  ]);
  return {
    executionId: prepared.executionId,
    definition: prepared.definition,
    triggerType: 'schedule',
    triggerData,
    settings: prepared.settings,
    env: prepared.env,
  };
}

/** A slice of a large foreach, started by its run; reports to the same mirror row. */
async function runChunk(input: RunInput): Promise<ForeachChunkResult> {
  const chunk = input.chunk!;
  // Iterations of a nested loop see the enclosing loop as loop.parent (chunks started before this change did not).
  const loop = chunk.loop !== undefined && changeApplies(PATCH_CHUNK_LOOP_PARENT) ? (chunk.loop as Frame['loop']) : undefined;
  const ctx = new RunContext(input, undefined, { prefix: '', outputs: chunk.outputs, ...(loop ? { loop } : {}) });
  Object.assign(ctx.vars, chunk.vars);
  installHandlers(ctx);
  const step = findStep(input.definition.document.steps, chunk.stepPath.replace(/.*\]\./, '').replace(/\[\d+\]$/, ''));
  if (!step || step.type !== 'foreach') {
    throw wf.ApplicationFailure.create({ type: ERROR_TYPES.StepFailed, message: `no foreach step at ${chunk.stepPath}`, nonRetryable: true });
  }
  try {
    const results = await runIterations(step, chunk.stepPath, chunk.items, chunk.offset, ctx, runSteps);
    return { results, vars: ctx.vars };
  } finally {
    ctx.showChunkFinished();
    await wf.CancellationScope.nonCancellable(() => ctx.flush());
  }
}

function findStep(steps: Step[], id: string): Step | undefined {
  for (const step of allSteps(steps)) if (step.id === id) return step;
  return undefined;
}

/** Whether this wait can be moved from: the patch, whose marker the SDK records once per run. */
function movableWaits(): boolean {
  return wf.patched(PATCH_MOVABLE_WAITS);
}

function historyIsLong(input: RunInput): boolean {
  const info = wf.workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= (input.settings?.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS);
}
