/**
 * The state of one run inside the interpreter workflow: step states, step
 * outputs (each under its own step path), variables, and the buffer of
 * mirror events. Deterministic code only.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { parseDuration } from '../src/shared/duration';
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
} from '../src/shared/expressions';
import type { ApprovalStep, RetryPolicy, Step } from '../src/shared/definition';
import { roleAtLeast } from '../src/shared/roles';
import { CurrentStep } from '../src/shared/search-attributes';
import type { ExecutionStatus, StepEvent } from '../src/shared/status';
import {
  type ApprovalDecision,
  type DecisionInput,
  ERROR_TYPES,
  type MirrorRowSeed,
  type MirrorSinks,
  type MirrorUpdate,
  type RunEvent,
  type RunInput,
  type ResumeState,
  type RunState,
  type StepLogEvent,
  type StepState,
} from '../src/shared/run';
import { activitiesWaitingForDatabase } from './database-waits';
import { changeApplies, isFirstType } from './generations';
import { continuationIn, type MigrateInput, type MigrateReceipt, type MigrationCarry } from '../src/shared/migration';

export type Activities = ReturnType<typeof createActivities>;

/** Interpreter changes guarded for runs already in flight; see test/integration/replay.test.ts. */
const PATCH_CURRENT_STEP_ON_CHANGE = 'current-step-upsert-on-change';
/** Characters of a failed run's error in its finished details. */
const FINISHED_ERROR_CHARS = 300;
/**
 * Changes released together, under one patch so a run records one marker for
 * them: plain paths in expressions skip JSONata; the mirror is written before
 * an activity only when it is {@link MIRROR_MAX_LAG_MS} behind (always before
 * a wait and at the end); the CurrentStep search attribute moves when the
 * mirror is written, not at every top-level step.
 */
const PATCH_LEAN_RUNS = 'lean-runs-2026-11';
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

/** How far (in workflow time) the mirror may lag a run that is busy with activities. */
export const MIRROR_MAX_LAG_MS = 1_000;

/**
 * How far the mirror may lag a run busy with activities that reports its
 * progress through the sink. A progress write is a statement for the worker
 * and Postgres, no history event, so the lag only trades freshness of the
 * runs list against those writes; the run's page reads a running run's live
 * state from the workflow itself.
 */
export const MIRROR_PROGRESS_LAG_MS = 5_000;

/**
 * Pending events past which a run writes the mirror durably (a local
 * activity) rather than by a progress write, so a long stretch without a wait
 * keeps a bounded list to send again.
 */
const PROGRESS_KEPT_EVENTS = 200;

/** Largest step output summary kept in query state and mirror rows. */
const OUTPUT_SUMMARY_BYTES = 4_096;

const DEFAULT_RETRY: RetryPolicy = {
  maximumAttempts: 5,
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
};

const mirror = wf.proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '200ms', backoffCoefficient: 2 },
  summary: 'mirror run state to Postgres',
});

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

/** The final mirror write of a V2 run: made by the worker as the run completes, outside its history. */
const { mirror: mirrorSink } = wf.proxySinks<MirrorSinks>();

/** State every part of a run shares, whatever loop iteration it is in. */
class SharedState {
  readonly steps = new Map<string, StepState>();
  readonly vars: Record<string, unknown> = {};
  readonly current = new Set<string>();
  pending: StepLogEvent[] = [];
  /** Signal name → path of the step waiting for it. */
  readonly awaiting = new Map<string, string>();
  readonly events = new Map<string, (RunEvent & { receivedAt: string })[]>();
  status: ExecutionStatus = 'RUNNING';
  error: string | undefined;
  /** The CurrentStep search attribute's value, to upsert only on change. */
  currentStepAttribute: string | undefined;
  /** Open approval steps by path. */
  readonly approvals = new Map<string, OpenApproval>();
  /** Decisions not yet written to the mirror. */
  pendingDecisions: ApprovalDecision[] = [];
  /** Workflow ids of the `foreach` chunks running now. */
  readonly chunks = new Set<string>();
  /** When the mirror was last written (workflow time): the run's start until then. */
  lastFlushAt = Date.now();
  /** How many of the pending events a progress write has sent already. */
  progressSent = 0;
  /** The mirror has taken one of this run's writes, so the execution's row is on disk. */
  rowConfirmed = false;
  /** Evaluation steps the run's expressions took in the current workflow task, and the task (its history length). */
  readonly taskBudget: TaskBudget & { task: number } = { used: 0, task: -1 };
  /** The task's end the run's branches wait for once their task spent its budget (one timer for them all). */
  yielding: Promise<void> | undefined;
  /** The guards this run evaluates JSONata with: those of the version it started on (decided once). */
  guards: Guards | undefined;
  /** The top-level waiting step running now that the run could move away from, with the scope that ends it. */
  movable: { path: string; step: Step; scope: wf.CancellationScope } | undefined;
  /** Why the top-level step running now cannot move (it began waiting before runs could), if so. */
  immovable: string | undefined;
  /** A move onto another definition version, asked for and accepted: where the run goes on. */
  migration: { input: MigrateInput; index: number; carry: MigrationCarry } | undefined;
  /** The wait this run took over from the version it moved from, until the step it maps to takes it up. */
  resumedWait: MigrationCarry | undefined;
  /** When each waiting step began to wait (workflow time, epoch ms), by path. */
  readonly waitingSince = new Map<string, number>();
  /** The definition version to tell the mirror, until it has taken it (after a move). */
  versionToMirror: number | undefined;
}

export interface OpenApproval {
  path: string;
  step: ApprovalStep;
  decisions: ApprovalDecision[];
  /** How many of the escalation ladder's rungs have run. */
  escalated: number;
}

/** Where in the run a step executes: the top level, or one iteration of a loop. */
export interface Frame {
  /** Prefix of step paths in this frame, e.g. `notify[3].`. */
  prefix: string;
  /** Outputs of steps run in this frame, by step id. */
  outputs: Record<string, { output: unknown; status: string }>;
  loop?: { item: unknown; index: number; parent?: unknown } | undefined;
  parent?: Frame | undefined;
}

export class RunContext {
  constructor(
    readonly input: RunInput,
    private readonly shared: SharedState = new SharedState(),
    readonly frame: Frame = { prefix: '', outputs: {} },
  ) {}

  /** A context for one loop iteration: its own step outputs and `loop` values, the run's state shared. */
  iteration(prefix: string, item: unknown, index: number): RunContext {
    return new RunContext(this.input, this.shared, {
      prefix,
      outputs: {},
      loop: { item, index, ...(this.frame.loop ? { parent: this.frame.loop } : {}) },
      parent: this.frame,
    });
  }

  /** Takes up where an earlier run of this execution left off (continue-as-new). */
  restore(resume: ResumeState): void {
    Object.assign(this.vars, resume.vars);
    Object.assign(this.frame.outputs, resume.outputs);
    for (const state of resume.steps) this.steps.set(state.path, state);
    for (const [signal, queue] of resume.events) this.events.set(signal, queue);
    this.shared.currentStepAttribute = resume.currentStep;
    if (resume.migration) {
      this.shared.resumedWait = resume.migration;
      this.shared.versionToMirror = this.input.definition.version;
    }
  }

  /** What a continuation needs to take up after top-level step `next - 1`. */
  carryOver(next: number): ResumeState {
    return {
      next,
      vars: this.vars,
      outputs: this.frame.outputs,
      steps: [...this.steps.values()].filter((s) => !s.path.includes('[')),
      events: [...this.events.entries()].filter(([, queue]) => queue.length > 0),
      currentStep: this.shared.currentStepAttribute,
      generation: (this.input.resume?.generation ?? 0) + 1,
    };
  }

  // --- moving onto another definition version (src/shared/migration.ts) ---------------

  /**
   * The wait a top-level step takes over from the version the run moved
   * from, once: set when this step is the one the waiting step maps to.
   */
  resumedWait(path: string, step: Step): MigrationCarry | undefined {
    const carried = this.shared.resumedWait;
    if (!carried || this.frame.prefix !== '' || path !== step.id || carried.toStep !== step.id) return undefined;
    this.shared.resumedWait = undefined;
    return carried;
  }

  /** A waiting step began to wait at `since` (epoch ms); a move carries it to the new version. */
  waitBegan(path: string, since: number): void {
    this.shared.waitingSince.set(path, since);
  }

  /** A top-level waiting step the run could move away from is running in `scope`. */
  enterMovable(path: string, step: Step, scope: wf.CancellationScope | undefined, immovable?: string): void {
    this.shared.movable = scope ? { path, step, scope } : undefined;
    this.shared.immovable = scope ? undefined : immovable;
  }

  leaveMovable(): void {
    this.shared.movable = undefined;
    this.shared.immovable = undefined;
  }

  /** The move asked for and accepted, if any. */
  get migration(): { input: MigrateInput; index: number; carry: MigrationCarry } | undefined {
    return this.shared.migration;
  }

  /** Why the run cannot move as `input` asks, or undefined when it can. */
  refuseMigration(input: MigrateInput): string | undefined {
    if (!input || typeof input !== 'object' || !input.definition?.document || !Array.isArray(input.definition.document.steps)) {
      return 'a move needs the definition version to move to';
    }
    if (typeof input.by !== 'string' || !input.by.trim() || typeof input.reason !== 'string' || !input.reason.trim()) {
      return 'a move needs "by" and "reason"';
    }
    if (this.input.chunk) return 'a slice of a foreach does not move on its own; move the run that owns it';
    const current = this.input.definition;
    if (input.definition.id !== current.id) return `the run executes definition ${current.id}, not ${input.definition.id}`;
    if (input.definition.version === current.version) return `the run is already on version ${current.version}`;
    if (this.shared.migration) return `the run is already moving to version ${this.shared.migration.input.definition.version}`;
    if (this.status !== 'RUNNING') return `the run is ${this.status}`;
    const movable = this.shared.movable;
    if (!movable) {
      if (this.shared.immovable) return this.shared.immovable;
      const at = this.currentList();
      return `the run is not waiting at a top-level approval, delay or wait_for_signal step${at.length ? ` (it is at ${at.join(', ')})` : ''}`;
    }
    const busy = this.currentList().filter((p) => p !== movable.path);
    if (busy.length > 0 || this.steps.get(movable.path)?.status !== 'WAITING') {
      return `step "${movable.path}" is busy (${busy.join(', ') || 'not waiting yet'}); ask again once it waits`;
    }
    const target = continuationIn(input.definition.document, movable.step.id, input.stepMap);
    return 'refused' in target ? target.refused : undefined;
  }

  /** Accepts a move (refuseMigration said yes) and ends the waiting step's wait, so the run can continue on the new version. */
  requestMigration(input: MigrateInput): MigrateReceipt {
    const movable = this.shared.movable!;
    const target = continuationIn(input.definition.document, movable.step.id, input.stepMap);
    if ('refused' in target) throw new Error(target.refused);
    const approval = this.shared.approvals.get(movable.path);
    const since = this.shared.waitingSince.get(movable.path) ?? Date.parse(this.steps.get(movable.path)?.startedAt ?? now());
    const carry: MigrationCarry = {
      fromVersion: this.input.definition.version,
      fromStep: movable.step.id,
      toStep: target.step.id,
      waitingSince: new Date(since).toISOString(),
      ...(approval && target.step.type === 'approval' ? { decisions: [...approval.decisions], escalated: approval.escalated } : {}),
      by: input.by,
      reason: input.reason,
    };
    this.shared.migration = { input, index: target.index, carry };
    movable.scope.cancel();
    return { accepted: true, fromVersion: carry.fromVersion, toVersion: input.definition.version, fromStep: carry.fromStep, toStep: carry.toStep };
  }

  /** The waiting step the run moves away from: logged MIGRATED, and not carried (the new version's step takes its place). */
  stepMoved(path: string, step: Step, carry: MigrationCarry, toVersion: number): void {
    this.current.delete(path);
    this.record(path, step, 'MIGRATED', {
      message: `moved to version ${toVersion} at step "${carry.toStep}" by ${carry.by}: ${carry.reason}`,
    });
    this.steps.delete(path);
    this.shared.waitingSince.delete(path);
  }

  /** The path of a step in this frame. */
  path(stepId: string): string {
    return `${this.frame.prefix}${stepId}`;
  }

  get steps(): Map<string, StepState> {
    return this.shared.steps;
  }

  get vars(): Record<string, unknown> {
    return this.shared.vars;
  }

  /** Step outputs visible here: this frame's over the enclosing ones'. */
  get outputs(): Record<string, { output: unknown; status: string }> {
    const chain: Frame[] = [];
    for (let f: Frame | undefined = this.frame; f; f = f.parent) chain.unshift(f);
    return Object.assign({}, ...chain.map((f) => f.outputs));
  }

  get status(): ExecutionStatus {
    return this.shared.status;
  }

  set status(status: ExecutionStatus) {
    this.shared.status = status;
  }

  get error(): string | undefined {
    return this.shared.error;
  }

  set error(error: string | undefined) {
    this.shared.error = error;
  }

  private get current(): Set<string> {
    return this.shared.current;
  }

  private get awaiting(): Map<string, string> {
    return this.shared.awaiting;
  }

  private get events(): Map<string, (RunEvent & { receivedAt: string })[]> {
    return this.shared.events;
  }

  private get pending(): StepLogEvent[] {
    return this.shared.pending;
  }

  private set pending(events: StepLogEvent[]) {
    this.shared.pending = events;
  }

  get defaultTimeoutMs(): number {
    return (this.input.settings?.defaultStepTimeoutSeconds ?? 300) * 1000;
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

  /**
   * Plain paths skip JSONata (same results, fewer microtask turns, so
   * concurrent branches may issue commands in another order) only where the
   * run's history says so: runs recorded before must replay as they ran.
   */
  private evaluationOptions(): EvaluationOptions {
    const shared = this.shared;
    // A new workflow task (its history length moved on): a fresh budget. Replay sees the same lengths.
    const task = wf.workflowInfo().historyLength;
    if (shared.taskBudget.task !== task) Object.assign(shared.taskBudget, { task, used: 0 });
    return {
      fastPaths: changeApplies(PATCH_LEAN_RUNS),
      // Comparisons of a plain path with a literal: V2 runs only (no V1 history has them).
      fastComparisons: !isFirstType(),
      guards: () => (shared.guards ??= guardsOfRun()),
      task: shared.taskBudget,
      budget: this.input.settings?.expressionStepsInWorkflow,
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
    const shared = this.shared;
    if (shared.guards !== 'metered' || !wf.patched(PATCH_TASK_BUDGET_YIELDS)) return false;
    shared.yielding ??= wf.sleep(1, { summary: 'let other runs have the worker between expressions' }).then(() => {
      Object.assign(shared.taskBudget, { task: wf.workflowInfo().historyLength, used: 0 });
      shared.yielding = undefined;
    });
    await shared.yielding;
    return true;
  }

  /**
   * An expression the workflow thread's budgets stopped, evaluated by an
   * activity instead (runs with metered guards that pass the patch check):
   * an ordinary one, or for runs recorded before that patch, a local one. The
   * decision follows the step count, so replay takes the same path.
   */
  private async evaluateOutside(source: string, data: unknown, stopped: StepLimitError): Promise<unknown> {
    const shared = this.shared;
    if (shared.guards !== 'metered' || !wf.patched(PATCH_EXPRESSIONS_OUTSIDE)) throw stopped;
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
      shared.taskBudget.used = 0;
    }
  }

  /** Evaluates an expression; a failure fails the step for good (retrying cannot fix it). */
  async evaluate(source: string, step: Step): Promise<unknown> {
    try {
      return await evaluateExpression(source, this.scope(), this.evaluationOptions());
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      throw expressionFailure(err, step);
    }
  }

  async render(value: unknown, step: Step): Promise<unknown> {
    try {
      const options = this.evaluationOptions();
      const scope = this.scope();
      const plain = options.fastPaths ? renderPlain(value, scope) : undefined;
      return plain ? plain.value : await renderDeep(value, scope, options);
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      throw expressionFailure(err, step);
    }
  }

  /**
   * All fields at once, without a promise, when every placeholder is a plain
   * path and the run takes plain paths (the lean-runs patch); undefined otherwise.
   */
  renderPlainFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | undefined {
    if (!this.evaluationOptions().fastPaths) return undefined;
    try {
      return renderPlain(fields, this.scope())?.value as Record<K, unknown> | undefined;
    } catch (err) {
      throw expressionFailure(err, step);
    }
  }

  /**
   * Renders each field's templates; the activity validates the rendered
   * values. In a V2 run, the fields themselves when every placeholder is a
   * plain path (no promise to wait for); otherwise a promise of them.
   */
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

  /** Activity options for a step: its own retry policy and timeout over the defaults. */
  activityOptions(step: Step & { retry?: RetryPolicy; timeout?: string }, purpose: string): ActivityOptions {
    const retry = { ...DEFAULT_RETRY, ...step.retry };
    const startToClose = step.timeout ? (parseDuration(step.timeout) ?? this.defaultTimeoutMs) : this.defaultTimeoutMs;
    const heartbeat = (this.input.settings?.stepHeartbeatTimeoutSeconds ?? 0) * 1000;
    return {
      startToCloseTimeout: startToClose,
      // A dead worker's attempt is retried after this, not after the whole start-to-close timeout.
      ...(heartbeat > 0 && heartbeat < startToClose ? { heartbeatTimeout: heartbeat } : {}),
      retry: {
        maximumAttempts: retry.maximumAttempts,
        initialInterval: retry.initialInterval ? parseDuration(retry.initialInterval) : undefined,
        backoffCoefficient: retry.backoffCoefficient,
        maximumInterval: retry.maximumInterval ? parseDuration(retry.maximumInterval) : undefined,
        nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
      },
      summary: `${step.id}: ${step.name ?? purpose}`,
    };
  }

  /**
   * The activities, called with a step's options so the UI shows its summary;
   * each call waits out outages of the product's Postgres (database-waits.ts).
   */
  activities(options: ActivityOptions): Activities {
    return activitiesWaitingForDatabase(options, this.input.settings?.databaseWaitLimitSeconds);
  }

  deliveryKey(path: string): string {
    return `${wf.workflowInfo().workflowId}/${path}`;
  }

  stepStarted(path: string, step: Step): void {
    const existing = this.steps.get(path);
    this.steps.set(path, {
      path,
      id: step.id,
      type: step.type,
      status: 'RUNNING',
      attempts: (existing?.attempts ?? 0) + 1,
      startedAt: now(),
    });
    this.current.add(path);
    this.record(path, step, 'STARTED');
    this.showCurrent();
  }

  /** Marks a `foreach` chunk (a child workflow) as running, so the gateway can reach its waiting steps. */
  chunkStarted(workflowId: string): void {
    this.shared.chunks.add(workflowId);
  }

  chunkEnded(workflowId: string): void {
    this.shared.chunks.delete(workflowId);
  }

  openApproval(path: string, step: ApprovalStep, carried?: MigrationCarry): OpenApproval {
    const open: OpenApproval = { path, step, decisions: carried?.decisions ?? [], escalated: carried?.escalated ?? 0 };
    this.shared.approvals.set(path, open);
    return open;
  }

  closeApproval(path: string): void {
    this.shared.approvals.delete(path);
  }

  /** Whether step events wait to be written to the mirror. */
  hasPendingEvents(): boolean {
    return this.pending.length > 0;
  }

  hasPendingDecisions(): boolean {
    return this.shared.pendingDecisions.length > 0;
  }

  /** The open approval a decision names, by path or (when unambiguous) by step id. */
  findApproval(step: string): OpenApproval | undefined {
    const byPath = this.shared.approvals.get(step);
    if (byPath) return byPath;
    const byId = [...this.shared.approvals.values()].filter((a) => a.step.id === step);
    return byId.length === 1 ? byId[0] : undefined;
  }

  /** Why a decision cannot be taken, or undefined when it can. */
  refuseDecision(input: DecisionInput): string | undefined {
    const open = this.findApproval(input.step);
    if (!open) {
      const waiting = [...this.shared.approvals.keys()];
      return `no approval step "${input.step}" is waiting${waiting.length ? `; waiting: ${waiting.join(', ')}` : ''}`;
    }
    const { step } = open;
    const by = input.by.trim().toLowerCase();
    const named = step.approvers?.some((a) => a.toLowerCase() === by) ?? false;
    const byRole = step.role !== undefined && input.role !== undefined && roleAtLeast(input.role, step.role);
    if (!named && !byRole) {
      return step.approvers
        ? `"${input.by}" may not decide step "${step.id}"; approvers: ${step.approvers.join(', ')}`
        : `step "${step.id}" needs a decider with role ${step.role} or higher`;
    }
    if (open.decisions.some((d) => d.decidedBy.toLowerCase() === by)) return `"${input.by}" has already decided step "${step.id}"`;
    return undefined;
  }

  recordDecision(path: string, decision: Omit<ApprovalDecision, 'stepPath' | 'sequence' | 'at'>): ApprovalDecision {
    const open = this.shared.approvals.get(path);
    const recorded: ApprovalDecision = { ...decision, stepPath: path, sequence: (open?.decisions.length ?? 0) + 1, at: now() };
    open?.decisions.push(recorded);
    this.shared.pendingDecisions.push(recorded);
    return recorded;
  }

  awaitEvent(signal: string, path: string): void {
    this.awaiting.set(signal, path);
  }

  stopAwaiting(signal: string): void {
    this.awaiting.delete(signal);
  }

  /** The step path waiting for `signal`, if any: events for nobody are refused. */
  waitingFor(signal: string): string | undefined {
    return this.awaiting.get(signal);
  }

  receiveEvent(event: RunEvent): void {
    const queue = this.events.get(event.signal) ?? [];
    queue.push({ ...event, receivedAt: now() });
    this.events.set(event.signal, queue);
  }

  hasEvent(signal: string): boolean {
    return (this.events.get(signal)?.length ?? 0) > 0;
  }

  takeEvent(signal: string): (RunEvent & { receivedAt: string }) | undefined {
    return this.events.get(signal)?.shift();
  }

  stepWaiting(path: string): void {
    const state = this.steps.get(path);
    if (state) state.status = 'WAITING';
  }

  /**
   * Holds a step on a durable timer until `until` (epoch ms) before it does
   * its work: the state shows the step WAITING, until when and why, and the
   * timer's summary says the same in the Temporal UI.
   */
  async holdUntil(path: string, step: Step, until: number, reason: string): Promise<void> {
    const ms = until - Date.now();
    if (ms <= 0) return;
    const untilIso = new Date(until).toISOString();
    this.update(path, { status: 'WAITING', waitingUntil: untilIso, waitingReason: reason });
    await this.flush();
    await wf.sleep(ms, { summary: `${step.id}: ${reason} until ${untilIso}` });
    this.update(path, { status: 'RUNNING', waitingUntil: undefined, waitingReason: undefined });
  }

  stepFinished(path: string, step: Step, output: unknown): void {
    const summary = summarize(output);
    this.frame.outputs[step.id] = { output, status: 'COMPLETED' };
    this.update(path, { status: 'COMPLETED', finishedAt: now(), output: summary });
    this.current.delete(path);
    this.record(path, step, 'COMPLETED', { output: summary });
  }

  stepSkipped(path: string, step: Step): void {
    this.frame.outputs[step.id] = { output: null, status: 'SKIPPED' };
    this.steps.set(path, { path, id: step.id, type: step.type, status: 'SKIPPED', attempts: 0, finishedAt: now() });
    this.record(path, step, 'SKIPPED', { message: 'guard was false' });
  }

  stepFailed(path: string, step: Step, error: string, errorType?: string): void {
    this.frame.outputs[step.id] = { output: null, status: 'FAILED' };
    this.update(path, { status: 'FAILED', finishedAt: now(), error });
    this.current.delete(path);
    this.record(path, step, 'FAILED', { error, ...(errorType ? { errorType } : {}) });
  }

  /**
   * Before an activity: writes the mirror only if it has not been written for
   * {@link MIRROR_MAX_LAG_MS}. A run busy with quick steps thus writes it at
   * its waits and its end, not before each delivery (each write is a local
   * activity the delivery would wait for); runs recorded before the
   * `lean-runs` patch write it every time, as they did.
   */
  flushIfBehind(): Promise<void> | undefined {
    if (isFirstType()) return this.flushIfBehindInTurn();
    if (this.input.settings?.mirrorProgress === 'sink' && this.pending.length < PROGRESS_KEPT_EVENTS) {
      if (Date.now() - this.shared.lastFlushAt >= MIRROR_PROGRESS_LAG_MS) this.writeProgress();
      return undefined;
    }
    return this.mirrorIsCurrent() ? undefined : this.flush();
  }

  /**
   * The mirror hears of the run's progress from the worker as this workflow
   * task ends (a sink: no marker, no task held open for a local activity),
   * for runs started so. The events stay pending, sent again by the next
   * durable write ({@link flush}), so a progress write that fails loses
   * nothing; those already sent are not sent again by the next progress write.
   * The CurrentStep search attribute moves with durable writes only, which
   * are made where the run is about to wait: each upsert is an event and a
   * visibility write, and a run busy with activities would make one before
   * most of them under load, when each takes longer than the mirror's lag.
   */
  private writeProgress(): void {
    this.shared.lastFlushAt = Date.now();
    const events = this.pending.slice(this.shared.progressSent);
    if (events.length === 0) return;
    this.shared.progressSent = this.pending.length;
    mirrorSink.recordProgress({
      executionId: this.input.executionId,
      events,
      status: 'RUNNING',
      currentStep: this.currentList()[0] ?? null,
      ...(this.input.chunk ? {} : { runId: wf.workflowInfo().runId }),
      ...(this.input.chunk || this.shared.rowConfirmed ? {} : { row: this.rowSeed() }),
    });
  }

  /** As V1 runs were recorded: always a promise. */
  private async flushIfBehindInTurn(): Promise<void> {
    if (changeApplies(PATCH_LEAN_RUNS) && this.mirrorIsCurrent()) return;
    await this.flush();
  }

  private mirrorIsCurrent(): boolean {
    return Date.now() - this.shared.lastFlushAt < MIRROR_MAX_LAG_MS;
  }

  /**
   * Writes buffered events to the mirror. Called where the run is about to
   * wait anyway (before an activity or a timer) and at the end, so mirroring
   * adds one local-activity marker per wait, not one per event. A failed write
   * keeps the events for the next flush; the reconciler covers the rest.
   *
   * The final write of a V2 run goes to the worker through a sink instead: it
   * has no next flush to keep events for, and the worker makes it (with the
   * local activity's retries) before it reports the run's completion to
   * Temporal, so it costs the run no marker and no extra activation. A worker
   * that dies first leaves the task to be retried, and the write with it.
   */
  async flush(final?: { status: ExecutionStatus; error?: string | undefined }): Promise<void> {
    // At the end there is no step to find the run at.
    if (!final && changeApplies(PATCH_LEAN_RUNS)) this.upsertCurrentStep();
    if (final) this.showFinished(final);
    if (this.pending.length === 0 && this.shared.pendingDecisions.length === 0 && !final) return;
    this.shared.lastFlushAt = Date.now();
    const events = this.pending;
    const decisions = this.shared.pendingDecisions;
    this.pending = [];
    this.shared.progressSent = 0;
    this.shared.pendingDecisions = [];
    const update: MirrorUpdate = {
      executionId: this.input.executionId,
      events,
      ...(decisions.length ? { decisions } : {}),
      status: final?.status ?? 'RUNNING',
      currentStep: final ? null : (this.currentList()[0] ?? null),
      finishedAt: final ? now() : undefined,
      error: final?.error,
      // The run carrying the execution (the gateway marks it too, but after answering; and a
      // continued run has a new one). A foreach chunk is a run of its own, not the execution's.
      ...(this.input.chunk ? {} : { runId: wf.workflowInfo().runId }),
      ...(this.input.chunk || this.shared.rowConfirmed ? {} : { row: this.rowSeed() }),
      ...(this.shared.versionToMirror !== undefined ? { definitionVersion: this.shared.versionToMirror } : {}),
    };
    if (final && !isFirstType()) {
      mirrorSink.recordFinal(update);
      return;
    }
    try {
      await mirror.recordRunEvents(update);
      this.shared.rowConfirmed = true;
      this.shared.versionToMirror = undefined;
    } catch (err) {
      // Kept for the next write, a cancelled one's too (a run moving onto another version cancels its wait's writes).
      this.pending = [...events, ...this.pending];
      this.shared.pendingDecisions = [...decisions, ...this.shared.pendingDecisions];
      if (wf.isCancellation(err)) throw err;
      // Postgres out of reach is logged once by the worker's pool, not by every run at every write.
      const databaseAway = err instanceof wf.ActivityFailure && err.cause instanceof wf.ApplicationFailure && err.cause.type === ERROR_TYPES.DatabaseUnavailable;
      (databaseAway ? wf.log.debug : wf.log.warn)('mirror write failed; events kept for the next write', { error: String(err) });
    }
  }

  /**
   * The execution's row, for a write that finds it missing. A write that
   * succeeds commits durably, and with it every earlier commit, the gateway's
   * insert of the row included: after one, the row needs no seed.
   */
  private rowSeed(): MirrorRowSeed {
    const info = wf.workflowInfo();
    return {
      workflowId: info.workflowId,
      definitionId: this.input.definition.id,
      definitionVersion: this.input.definition.version,
      triggerType: this.input.triggerType,
      triggerData: this.input.triggerData,
      startedAt: info.startTime.toISOString(),
    };
  }

  snapshot(): RunState {
    return {
      executionId: this.input.executionId,
      status: this.status,
      currentSteps: this.currentList(),
      waitingFor: [...this.awaiting.keys()],
      approvals: [...this.shared.approvals.values()].map((a) => ({
        stepPath: a.path,
        approvers: a.step.approvers ?? null,
        role: a.step.role ?? null,
        required: a.step.required ?? 1,
        decisions: a.decisions,
      })),
      steps: [...this.steps.values()],
      vars: this.vars,
      error: this.error,
      ...(this.shared.chunks.size > 0 ? { chunks: [...this.shared.chunks] } : {}),
      ...(this.shared.movable && this.steps.get(this.shared.movable.path)?.status === 'WAITING' ? { movableAt: this.shared.movable.path } : {}),
    };
  }

  private currentList(): string[] {
    return [...this.current];
  }

  private showCurrent(): void {
    const current = this.currentList();
    wf.setCurrentDetails(current.length ? `On step ${current.map((c) => `\`${c}\``).join(', ')}` : '');
    // Moved to where the mirror is written (see flush); asked first, so new runs record no marker for the older patch.
    if (changeApplies(PATCH_LEAN_RUNS)) return;
    // Runs started before this patch upserted on every step start; they must replay as they ran.
    if (!changeApplies(PATCH_CURRENT_STEP_ON_CHANGE)) {
      wf.upsertSearchAttributes([{ key: CurrentStep, value: current[0] ?? null }]);
      return;
    }
    if (this.frame.prefix === '') this.upsertCurrentStep();
  }

  /**
   * What the Temporal UI shows as a finished run's current details: its
   * outcome, not the last step it started. Details are no command (the SDK
   * answers them to the metadata query from workflow state), so histories
   * recorded before replay unchanged.
   */
  private showFinished({ status, error }: { status: ExecutionStatus; error?: string | undefined }): void {
    const reason = error ? `: ${error.length > FINISHED_ERROR_CHARS ? `${error.slice(0, FINISHED_ERROR_CHARS)}…` : error}` : '';
    wf.setCurrentDetails(`Finished, ${status}${reason}`);
  }

  /** Details at the end of a `foreach` chunk: its parent run says how the loop went. */
  showChunkFinished(): void {
    wf.setCurrentDetails('Finished: this slice of a foreach loop has ended; its parent run has the outcome');
  }

  /**
   * Each upsert is a history event: only top-level steps move the search
   * attribute, and only when it changes, so a loop's iterations do not grow
   * the history. A `foreach` chunk leaves it to its parent.
   */
  private upsertCurrentStep(): void {
    if (this.input.chunk) return;
    const top = this.currentList().find((c) => !c.includes('['));
    if (top !== undefined && top !== this.shared.currentStepAttribute) {
      this.shared.currentStepAttribute = top;
      wf.upsertSearchAttributes([{ key: CurrentStep, value: top }]);
    }
  }

  private update(path: string, patch: Partial<StepState>): void {
    const state = this.steps.get(path);
    if (state) Object.assign(state, patch);
  }

  private record(
    path: string,
    step: Step,
    event: StepEvent,
    extra: { output?: unknown; error?: string; errorType?: string; message?: string } = {},
  ): void {
    this.pending.push({
      stepPath: path,
      stepId: step.id,
      stepType: step.type,
      event,
      at: now(),
      attempt: this.steps.get(path)?.attempts ?? 0,
      ...extra,
    });
  }
}

function now(): string {
  return new Date().toISOString();
}

function summarize(output: unknown): unknown {
  if (output === undefined) return null;
  const json = JSON.stringify(output);
  if (json === undefined) return null;
  if (json.length <= OUTPUT_SUMMARY_BYTES) return output;
  return { truncated: true, preview: json.slice(0, OUTPUT_SUMMARY_BYTES) };
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
