/**
 * How a run's expressions are evaluated: the scope they see (the trigger's
 * data, the variables, the step outputs of this frame and those around it,
 * loop values, the run itself), the guards and budgets they run under, and
 * where one too large for the workflow thread goes. The run owns the budget;
 * each frame (the top level, one loop iteration) has its own view of it.
 */
import * as wf from '@temporalio/workflow';
import type { Step } from '../../src/shared/definition';
import {
  type EvaluationOptions,
  type ExpressionScope,
  evaluateExpression,
  type Guards,
  ExpressionError,
  renderDeep,
  renderPlain,
  StepLimitError,
  type TaskBudget,
} from '../../src/shared/expressions';
import { ERROR_TYPES, type RunInput } from '../../src/shared/run';
import { changeApplies, isFirstType } from '../generations';
import type { Activities } from './activity-options';
import { PATCH_LEAN_RUNS } from './patches';

/**
 * Expressions evaluated with bounded guards: steps counted on exit against
 * the expression's and the workflow task's budgets, strings and lists
 * bounded, regular expressions run in linear time (src/shared/expressions.ts).
 * Checked when a run first needs JSONata, so runs of plain paths record no marker.
 */
const PATCH_BOUNDED_EXPRESSIONS = 'bounded-expressions-2026-12';
/**
 * Expressions evaluated with metered work: what an evaluation builds, sorts
 * and scans is charged in steps too, and the limits of one expression and
 * one task are about a second of the workflow thread (src/shared/expressions.ts).
 * Checked, like the one above, when a run first needs JSONata.
 */
const PATCH_METERED_EXPRESSIONS = 'metered-expressions-2026-12';
/**
 * An expression the metered budgets stop in the workflow thread is evaluated
 * again in an activity (activities/expressions.ts), with larger limits, and
 * the history records its result (a local activity, until the patch below).
 * Checked only when an expression needs it, so runs whose expressions fit in
 * the workflow thread record no marker.
 */
const PATCH_EXPRESSIONS_OUTSIDE = 'expressions-outside-workflow-2026-12';
/**
 * That evaluation is an ordinary activity, not a local one: the SDK keeps a
 * workflow task open while its local activities run, so each evaluation held
 * one of the worker's workflow-task slots for as long as it took, waiting
 * included (2.5–5 s a hostile run), and ordinary runs waited for a slot.
 * Checked at the same point as the patch above, just after it, so runs that
 * recorded the local activity replay with it.
 */
const PATCH_EXPRESSIONS_AS_ACTIVITY = 'expressions-as-activity-2026-12';
/**
 * When a task's expressions together pass its budget (each within its own),
 * the run lets the workflow task end (a 1 ms timer) and evaluates the
 * expression in the next one, instead of in the activity above: that activity
 * is for expressions too large for the thread, a worker holds two at once, and
 * a loop of small expressions (a 500-item foreach chunk) waited on its
 * refusals and backoff. Checked only when a task's budget is spent.
 */
const PATCH_TASK_BUDGET_YIELDS = 'task-budget-yields-2026-12';

/**
 * Evaluates an expression too large for the workflow thread, as runs recorded
 * before {@link PATCH_EXPRESSIONS_AS_ACTIVITY} did. Its own limits (steps, 3 s
 * of CPU) end it; the timeout leaves room for the evaluations queued before
 * it in the worker's expression process, which runs one at a time at a low
 * priority. A second attempt only for a worker lost mid-way.
 */
const outsideLocally = wf.proxyLocalActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: { maximumAttempts: 2, initialInterval: '1s', nonRetryableErrorTypes: [ERROR_TYPES.ExpressionFailed] },
  summary: 'evaluate an expression past the workflow thread\'s limits',
});

/**
 * The same evaluation as an ordinary activity (runs with
 * {@link PATCH_EXPRESSIONS_AS_ACTIVITY}), on the run's task queue: the
 * workflow task completes, and frees its slot, while the expression is
 * evaluated. A worker holds only a couple of these at once (one evaluating,
 * one next), so they cannot take the activity slots other steps need; one it
 * has no room for fails at once with `ExpressionsBusy` and is tried again
 * after a backoff, on whichever worker has room, for up to 10 minutes in all
 * (what the local activity allowed for its queue). An attempt covers its
 * evaluation (3 s of CPU at most, at a low priority) and the one ahead of it;
 * the heartbeat notices a worker lost mid-way within seconds.
 */
const outside = wf.proxyActivities<Activities>({
  scheduleToCloseTimeout: '10m',
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: [ERROR_TYPES.ExpressionFailed] },
  summary: 'evaluate an expression past the workflow thread\'s limits',
});

/** Where in the run a step executes: the top level, or one iteration of a loop. */
export interface Frame {
  /** Prefix of step paths in this frame, e.g. `notify[3].`. */
  prefix: string;
  /** Outputs of steps run in this frame, by step id. */
  outputs: Record<string, { output: unknown; status: string }>;
  loop?: { item: unknown; index: number; parent?: unknown } | undefined;
  parent?: Frame | undefined;
}

/** What a step handler may ask of expressions: values, rendered templates. */
export interface Rendering {
  /** Evaluates an expression; a failure fails the step for good (retrying cannot fix it). */
  evaluate(source: string, step: Step): Promise<unknown>;
  render(value: unknown, step: Step): Promise<unknown>;
  /**
   * All fields at once, without a promise, when every placeholder is a plain
   * path and the run takes plain paths (the lean-runs patch); undefined otherwise.
   */
  renderPlainFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | undefined;
  /**
   * Renders each field's templates; the activity validates the rendered
   * values. In a V2 run, the fields themselves when every placeholder is a
   * plain path (no promise to wait for); otherwise a promise of them.
   */
  renderFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | Promise<Record<K, unknown>>;
}

/**
 * The run's side of evaluation, the same for every frame: which guards its
 * expressions run under (those of the version it started on, decided once),
 * the steps the current workflow task has spent, and what happens when they
 * are spent.
 */
export class ExpressionBudget {
  /** Evaluation steps the run's expressions took in the current workflow task, and the task (its history length). */
  readonly taskBudget: TaskBudget & { task: number } = { used: 0, task: -1 };
  /** The task's end the run's branches wait for once their task spent its budget (one timer for them all). */
  private yielding: Promise<void> | undefined;
  /** The guards this run evaluates JSONata with: those of the version it started on (decided once). */
  private guards: Guards | undefined;

  /**
   * @param stepsInWorkflow the run's `expressionStepsInWorkflow` setting
   * @param stepsByShape the run's `heavyExpressionStepsInWorkflow` setting
   */
  constructor(
    private readonly stepsInWorkflow: number | undefined,
    private readonly stepsByShape?: number,
  ) {}

  /**
   * Plain paths skip JSONata (same results, fewer microtask turns, so
   * concurrent branches may issue commands in another order) only where the
   * run's history says so: runs recorded before must replay as they ran.
   */
  options(): EvaluationOptions {
    // A new workflow task (its history length moved on): a fresh budget. Replay sees the same lengths.
    const task = wf.workflowInfo().historyLength;
    if (this.taskBudget.task !== task) Object.assign(this.taskBudget, { task, used: 0 });
    return {
      fastPaths: changeApplies(PATCH_LEAN_RUNS),
      // Comparisons of a plain path with a literal: V2 runs only (no V1 history has them).
      fastComparisons: !isFirstType(),
      guards: () => (this.guards ??= guardsOfRun()),
      task: this.taskBudget,
      budget: this.stepsInWorkflow,
      shapeBudget: this.stepsByShape,
      fallback: (source, data, stopped) => this.evaluateOutside(source, data, stopped),
      yieldTask: () => this.yieldTask(),
    };
  }

  /**
   * Ends the workflow task so other runs' tasks go first, for a run whose
   * task spent its expressions' budget; false for runs recorded before
   * {@link PATCH_TASK_BUDGET_YIELDS}, which took the activity instead.
   */
  private async yieldTask(): Promise<boolean> {
    if (this.guards !== 'metered' || !wf.patched(PATCH_TASK_BUDGET_YIELDS)) return false;
    this.yielding ??= wf.sleep(1, { summary: 'let other runs have the worker between expressions' }).then(() => {
      Object.assign(this.taskBudget, { task: wf.workflowInfo().historyLength, used: 0 });
      this.yielding = undefined;
    });
    await this.yielding;
    return true;
  }

  /**
   * An expression the workflow thread's budgets stopped, evaluated by an
   * activity instead (runs with metered guards that pass the patch check):
   * an ordinary one, or for runs recorded before that patch, a local one. The
   * decision follows the step count, so replay takes the same path.
   */
  private async evaluateOutside(source: string, data: unknown, stopped: StepLimitError): Promise<unknown> {
    if (this.guards !== 'metered' || !wf.patched(PATCH_EXPRESSIONS_OUTSIDE)) throw stopped;
    const activities = wf.patched(PATCH_EXPRESSIONS_AS_ACTIVITY) ? outside : outsideLocally;
    try {
      const { value } = await activities.evaluateExpression({ source, data: data as ExpressionScope });
      return value;
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      const cause = err instanceof wf.ActivityFailure ? err.cause : err;
      const why = cause instanceof wf.ApplicationFailure || cause instanceof wf.TimeoutFailure ? cause.message : String(cause);
      throw new ExpressionError(cause instanceof wf.TimeoutFailure ? `expression did not finish outside the workflow thread (${why})` : why, source);
    } finally {
      // The thread was let go while the activity ran: the task's expressions start afresh.
      this.taskBudget.used = 0;
    }
  }
}

/** One frame's expressions: what they see, evaluated under the run's budget. */
export class Expressions implements Rendering {
  constructor(
    private readonly input: RunInput,
    private readonly vars: Record<string, unknown>,
    private readonly frame: Frame,
    private readonly budget: ExpressionBudget,
  ) {}

  /** Step outputs visible here: this frame's over the enclosing ones'. */
  get outputs(): Record<string, { output: unknown; status: string }> {
    const chain: Frame[] = [];
    for (let f: Frame | undefined = this.frame; f; f = f.parent) chain.unshift(f);
    return Object.assign({}, ...chain.map((f) => f.outputs));
  }

  scope(): ExpressionScope {
    const info = wf.workflowInfo();
    return {
      input: this.input.triggerData,
      vars: this.vars,
      steps: this.outputs,
      env: this.input.env ?? {},
      ...(this.frame.loop ? { loop: this.frame.loop } : {}),
      run: {
        executionId: this.input.executionId,
        workflowId: info.workflowId,
        runId: info.runId,
        startedAt: info.runStartTime.toISOString(),
        attempt: info.attempt,
        definition: {
          id: this.input.definition.id,
          key: this.input.definition.document.key,
          name: this.input.definition.document.name,
          version: this.input.definition.version,
        },
      },
    };
  }

  async evaluate(source: string, step: Step): Promise<unknown> {
    try {
      return await evaluateExpression(source, this.scope(), this.budget.options());
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      throw expressionFailure(err, step);
    }
  }

  async render(value: unknown, step: Step): Promise<unknown> {
    try {
      const options = this.budget.options();
      const scope = this.scope();
      const plain = options.fastPaths ? renderPlain(value, scope) : undefined;
      return plain ? plain.value : await renderDeep(value, scope, options);
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      throw expressionFailure(err, step);
    }
  }

  renderPlainFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | undefined {
    if (!this.budget.options().fastPaths) return undefined;
    try {
      return renderPlain(fields, this.scope())?.value as Record<K, unknown> | undefined;
    } catch (err) {
      throw expressionFailure(err, step);
    }
  }

  renderFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | Promise<Record<K, unknown>> {
    if (isFirstType()) return this.renderFieldsInTurn(fields, step);
    return this.renderPlainFields(fields, step) ?? this.renderFieldsInTurn(fields, step, false);
  }

  /** One field after another; first all at once if `tryPlain` (V1 runs, as they were recorded). */
  private async renderFieldsInTurn<K extends string>(fields: Record<K, unknown>, step: Step, tryPlain = true): Promise<Record<K, unknown>> {
    const plain = tryPlain ? this.renderPlainFields(fields, step) : undefined;
    if (plain) return plain;
    const out: Partial<Record<K, unknown>> = {};
    for (const key of Object.keys(fields) as K[]) out[key] = await this.render(fields[key], step);
    return out as Record<K, unknown>;
  }
}

/** The newest guards whose patch the run has (a new run takes the metered ones). */
function guardsOfRun(): Guards {
  if (wf.patched(PATCH_METERED_EXPRESSIONS)) return 'metered';
  return wf.patched(PATCH_BOUNDED_EXPRESSIONS) ? 'bounded' : 'legacy';
}

function expressionFailure(err: unknown, step: Step): wf.ApplicationFailure {
  const message = err instanceof ExpressionError ? err.message : String(err);
  return wf.ApplicationFailure.create({
    type: ERROR_TYPES.ExpressionFailed,
    message: `step "${step.id}": ${message}`,
    nonRetryable: true,
  });
}
