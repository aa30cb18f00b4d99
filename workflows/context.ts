/**
 * A run as the interpreter and its step handlers see it: the run's parts,
 * shared by every loop iteration (the journal of its steps and the mirror,
 * its waits, its moves between versions, its expressions' budget), and the
 * frame a step runs in (its step outputs and loop values). Each part is a
 * module of its own under run/; this class composes them, and a step handler
 * is given only the members it uses (steps/types.ts). Deterministic code only.
 */
import type * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { ApprovalStep, RetryPolicy, Step } from '../src/shared/definition';
import type { MigrateInput, MigrateReceipt, MigrationCarry } from '../src/shared/migration';
import type { ApprovalDecision, DecisionInput, ResumeState, RunEvent, RunInput, RunState, StepState } from '../src/shared/run';
import type { ExecutionStatus } from '../src/shared/status';
import { type Activities, deliveryKey, stepActivities, stepActivityOptions } from './run/activity-options';
import { Journal, type MirrorWrites, summarize } from './run/journal';
import { LocalReads } from './run/local-reads';
import { type AcceptedMove, type MovableWait, Moves } from './run/moves';
import { ExpressionBudget, Expressions, type Frame, type Rendering } from './run/scope';
import { type ApprovalWaits, type EventWaits, type OpenApproval, type ReceivedEvent, Waits } from './run/waits';

export type { Activities } from './run/activity-options';
export type { Frame } from './run/scope';
export type { OpenApproval } from './run/waits';

/** The parts of a run every frame of it shares. */
class RunParts {
  readonly vars: Record<string, unknown> = {};
  readonly journal: Journal;
  readonly waits: Waits;
  readonly moves: Moves;
  readonly budget: ExpressionBudget;
  readonly localReads: LocalReads;

  constructor(input: RunInput) {
    this.journal = new Journal(input);
    this.waits = new Waits(this.journal);
    this.moves = new Moves(input, this.journal, this.waits);
    this.budget = new ExpressionBudget(input.settings?.expressionStepsInWorkflow, input.settings?.heavyExpressionStepsInWorkflow);
    this.localReads = new LocalReads(input.settings);
  }
}

export class RunContext implements Rendering, MirrorWrites, ApprovalWaits, EventWaits, MovableWait {
  private readonly expressions: Expressions;

  constructor(
    readonly input: RunInput,
    private readonly run: RunParts = new RunParts(input),
    readonly frame: Frame = { prefix: '', outputs: {} },
  ) {
    this.expressions = new Expressions(input, run.vars, frame, run.budget);
  }

  /** A context for one loop iteration: its own step outputs and `loop` values, the run's state shared. */
  iteration(prefix: string, item: unknown, index: number): RunContext {
    return new RunContext(this.input, this.run, {
      prefix,
      outputs: {},
      loop: { item, index, ...(this.frame.loop ? { parent: this.frame.loop } : {}) },
      parent: this.frame,
    });
  }

  /** Takes up where an earlier run of this execution left off (continue-as-new). */
  restore(resume: ResumeState): void {
    const { journal, waits, moves } = this.run;
    Object.assign(this.vars, resume.vars);
    Object.assign(this.frame.outputs, resume.outputs);
    for (const state of resume.steps) journal.steps.set(state.path, state);
    waits.restoreEvents(resume.events);
    journal.currentStepAttribute = resume.currentStep;
    if (resume.migration) {
      moves.restore(resume.migration);
      journal.versionToMirror = this.input.definition.version;
    }
  }

  /** What a continuation needs to take up after top-level step `next - 1`. */
  carryOver(next: number): ResumeState {
    const { journal, waits } = this.run;
    return {
      next,
      vars: this.vars,
      outputs: this.frame.outputs,
      steps: [...journal.steps.values()].filter((s) => !s.path.includes('[')),
      events: waits.undeliveredEvents(),
      currentStep: journal.currentStepAttribute,
      generation: (this.input.resume?.generation ?? 0) + 1,
    };
  }

  snapshot(): RunState {
    const { journal, waits, moves } = this.run;
    const movableAt = moves.movableAt();
    return {
      executionId: this.input.executionId,
      status: journal.status,
      currentSteps: journal.currentSteps(),
      waitingFor: waits.awaitedSignals(),
      approvals: waits.approvalStates(),
      steps: [...journal.steps.values()],
      vars: this.vars,
      error: journal.error,
      ...(journal.chunks.size > 0 ? { chunks: [...journal.chunks] } : {}),
      ...(movableAt !== undefined ? { movableAt } : {}),
    };
  }

  /** The path of a step in this frame. */
  path(stepId: string): string {
    return `${this.frame.prefix}${stepId}`;
  }

  get steps(): Map<string, StepState> {
    return this.run.journal.steps;
  }

  get vars(): Record<string, unknown> {
    return this.run.vars;
  }

  /** Step outputs visible here: this frame's over the enclosing ones'. */
  get outputs(): Record<string, { output: unknown; status: string }> {
    return this.expressions.outputs;
  }

  get status(): ExecutionStatus {
    return this.run.journal.status;
  }

  set status(status: ExecutionStatus) {
    this.run.journal.status = status;
  }

  get error(): string | undefined {
    return this.run.journal.error;
  }

  set error(error: string | undefined) {
    this.run.journal.error = error;
  }

  // --- the journal (run/journal.ts) ---------------------------------------------------

  stepStarted(path: string, step: Step): void {
    this.run.journal.started(path, step, this.frame.prefix === '');
  }

  stepWaiting(path: string): void {
    this.run.journal.waiting(path);
  }

  stepFinished(path: string, step: Step, output: unknown): void {
    const summary = summarize(output);
    this.frame.outputs[step.id] = { output, status: 'COMPLETED' };
    this.run.journal.finished(path, step, summary);
  }

  stepSkipped(path: string, step: Step): void {
    this.frame.outputs[step.id] = { output: null, status: 'SKIPPED' };
    this.run.journal.skipped(path, step);
  }

  stepFailed(path: string, step: Step, error: string, errorType?: string): void {
    this.frame.outputs[step.id] = { output: null, status: 'FAILED' };
    this.run.journal.failed(path, step, error, errorType);
  }

  holdUntil(path: string, step: Step, until: number, reason: string): Promise<void> {
    return this.run.journal.holdUntil(path, step, until, reason);
  }

  flushIfBehind(): Promise<void> | undefined {
    return this.run.journal.flushIfBehind();
  }

  flush(final?: { status: ExecutionStatus; error?: string | undefined }): Promise<void> {
    return this.run.journal.flush(final);
  }

  hasPendingEvents(): boolean {
    return this.run.journal.hasPendingEvents();
  }

  hasPendingDecisions(): boolean {
    return this.run.journal.hasPendingDecisions();
  }

  /** Marks a `foreach` chunk (a child workflow) as running, so the gateway can reach its waiting steps. */
  chunkStarted(workflowId: string): void {
    this.run.journal.chunks.add(workflowId);
  }

  chunkEnded(workflowId: string): void {
    this.run.journal.chunks.delete(workflowId);
  }

  showChunkFinished(): void {
    this.run.journal.showChunkFinished();
  }

  // --- expressions (run/scope.ts) -----------------------------------------------------

  evaluate(source: string, step: Step): Promise<unknown> {
    return this.expressions.evaluate(source, step);
  }

  render(value: unknown, step: Step): Promise<unknown> {
    return this.expressions.render(value, step);
  }

  renderPlainFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | undefined {
    return this.expressions.renderPlainFields(fields, step);
  }

  renderFields<K extends string>(fields: Record<K, unknown>, step: Step): Record<K, unknown> | Promise<Record<K, unknown>> {
    return this.expressions.renderFields(fields, step);
  }

  // --- a step's activities (run/activity-options.ts) ----------------------------------

  activityOptions(step: Step & { retry?: RetryPolicy; timeout?: string }, purpose: string): ActivityOptions {
    return stepActivityOptions(step, purpose, this.input.settings);
  }

  activities(options: ActivityOptions): Activities {
    return stepActivities(options, this.input.settings);
  }

  deliveryKey(path: string): string {
    return deliveryKey(path);
  }

  /** The run's reads tried as local activities first (run/local-reads.ts). */
  get localReads(): LocalReads {
    return this.run.localReads;
  }

  // --- approvals and events (run/waits.ts) --------------------------------------------

  openApproval(path: string, step: ApprovalStep, carried?: MigrationCarry): OpenApproval {
    return this.run.waits.openApproval(path, step, carried);
  }

  closeApproval(path: string): void {
    this.run.waits.closeApproval(path);
  }

  findApproval(step: string): OpenApproval | undefined {
    return this.run.waits.findApproval(step);
  }

  refuseDecision(input: DecisionInput): string | undefined {
    return this.run.waits.refuseDecision(input);
  }

  recordDecision(path: string, decision: Omit<ApprovalDecision, 'stepPath' | 'sequence' | 'at'>): ApprovalDecision {
    return this.run.waits.recordDecision(path, decision);
  }

  awaitEvent(signal: string, path: string): void {
    this.run.waits.awaitEvent(signal, path);
  }

  stopAwaiting(signal: string): void {
    this.run.waits.stopAwaiting(signal);
  }

  waitingFor(signal: string): string | undefined {
    return this.run.waits.waitingFor(signal);
  }

  receiveEvent(event: RunEvent): void {
    this.run.waits.receiveEvent(event);
  }

  hasEvent(signal: string): boolean {
    return this.run.waits.hasEvent(signal);
  }

  takeEvent(signal: string): ReceivedEvent | undefined {
    return this.run.waits.takeEvent(signal);
  }

  // --- moving onto another definition version (run/moves.ts) --------------------------

  resumedWait(path: string, step: Step): MigrationCarry | undefined {
    return this.run.moves.resumedWait(path, step, this.frame.prefix === '');
  }

  waitBegan(path: string, since: number): void {
    this.run.moves.waitBegan(path, since);
  }

  enterMovable(path: string, step: Step, scope: wf.CancellationScope | undefined, immovable?: string): void {
    this.run.moves.enterMovable(path, step, scope, immovable);
  }

  leaveMovable(): void {
    this.run.moves.leaveMovable();
  }

  get migration(): AcceptedMove | undefined {
    return this.run.moves.migration;
  }

  refuseMigration(input: MigrateInput): string | undefined {
    return this.run.moves.refuseMigration(input);
  }

  requestMigration(input: MigrateInput): MigrateReceipt {
    return this.run.moves.requestMigration(input);
  }

  stepMoved(path: string, step: Step, carry: MigrationCarry, toVersion: number): void {
    this.run.moves.stepMoved(path, step, carry, toVersion);
  }
}
