/**
 * A run's journal: the state of each step, the steps running now, the run's
 * status, and the buffer of step events and decisions not yet written to the
 * mirror, with the writes that empty it (a local activity where the run is
 * about to wait, a progress write through a sink in between, the final write
 * through a sink). It also keeps what the Temporal UI shows of the run: its
 * current details and the CurrentStep search attribute.
 */
import * as wf from '@temporalio/workflow';
import type { Step } from '../../src/shared/definition';
import { CurrentStep } from '../../src/shared/search-attributes';
import type { ExecutionStatus, StepEvent } from '../../src/shared/status';
import {
  type ApprovalDecision,
  ERROR_TYPES,
  type MirrorRowSeed,
  type MirrorSinks,
  type MirrorUpdate,
  type RunInput,
  type StepLogEvent,
  type StepState,
} from '../../src/shared/run';
import { changeApplies, isFirstType } from '../generations';
import type { Activities } from './activity-options';
import { PATCH_LEAN_RUNS } from './patches';

/** Interpreter changes guarded for runs already in flight; see test/integration/replay.test.ts. */
const PATCH_CURRENT_STEP_ON_CHANGE = 'current-step-upsert-on-change';
/** Characters of a failed run's error in its finished details. */
const FINISHED_ERROR_CHARS = 300;

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

const mirror = wf.proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '200ms', backoffCoefficient: 2 },
  summary: 'mirror run state to Postgres',
});

/** The final mirror write of a V2 run: made by the worker as the run completes, outside its history. */
const { mirror: mirrorSink } = wf.proxySinks<MirrorSinks>();

/** What a step handler may ask of the journal: mirror writes, and a step held on a timer. */
export interface MirrorWrites {
  /** Before an activity: writes the mirror if it lags; a promise only when the run must wait for the write. */
  flushIfBehind(): Promise<void> | undefined;
  /** Writes buffered events and decisions to the mirror (where the run is about to wait anyway). */
  flush(): Promise<void>;
  /** Whether step events wait to be written to the mirror. */
  hasPendingEvents(): boolean;
  /** Whether decisions wait to be written to the mirror. */
  hasPendingDecisions(): boolean;
}

export class Journal {
  readonly steps = new Map<string, StepState>();
  /** Paths of the steps running now, in the order they started. */
  private readonly current = new Set<string>();
  private pending: StepLogEvent[] = [];
  /** Decisions not yet written to the mirror. */
  private pendingDecisions: ApprovalDecision[] = [];
  status: ExecutionStatus = 'RUNNING';
  error: string | undefined;
  /** The CurrentStep search attribute's value, to upsert only on change. */
  currentStepAttribute: string | undefined;
  /** Workflow ids of the `foreach` chunks running now. */
  readonly chunks = new Set<string>();
  /** When the mirror was last written (workflow time): the run's start until then. */
  private lastFlushAt = Date.now();
  /** How many of the pending events a progress write has sent already. */
  private progressSent = 0;
  /** The mirror has taken one of this run's writes, so the execution's row is on disk. */
  private rowConfirmed = false;
  /** The definition version to tell the mirror, until it has taken it (after a move). */
  versionToMirror: number | undefined;

  constructor(private readonly input: RunInput) {}

  /** Paths of the steps running now. */
  currentSteps(): string[] {
    return [...this.current];
  }

  /** A step began (again): `topLevel` when it is not inside a loop iteration. */
  started(path: string, step: Step, topLevel: boolean): void {
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
    this.showCurrent(topLevel);
  }

  waiting(path: string): void {
    const state = this.steps.get(path);
    if (state) state.status = 'WAITING';
  }

  /** `summary` is the step's output as {@link summarize} keeps it. */
  finished(path: string, step: Step, summary: unknown): void {
    this.update(path, { status: 'COMPLETED', finishedAt: now(), output: summary });
    this.current.delete(path);
    this.record(path, step, 'COMPLETED', { output: summary });
  }

  skipped(path: string, step: Step): void {
    this.steps.set(path, { path, id: step.id, type: step.type, status: 'SKIPPED', attempts: 0, finishedAt: now() });
    this.record(path, step, 'SKIPPED', { message: 'guard was false' });
  }

  failed(path: string, step: Step, error: string, errorType?: string): void {
    this.update(path, { status: 'FAILED', finishedAt: now(), error });
    this.current.delete(path);
    this.record(path, step, 'FAILED', { error, ...(errorType ? { errorType } : {}) });
  }

  /** A waiting step the run moved away from: logged MIGRATED with `message`, and no longer the run's. */
  moved(path: string, step: Step, message: string): void {
    this.current.delete(path);
    this.record(path, step, 'MIGRATED', { message });
    this.steps.delete(path);
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

  hasPendingEvents(): boolean {
    return this.pending.length > 0;
  }

  hasPendingDecisions(): boolean {
    return this.pendingDecisions.length > 0;
  }

  /** A decision taken, to be written with the next durable write. */
  queueDecision(decision: ApprovalDecision): void {
    this.pendingDecisions.push(decision);
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
      if (Date.now() - this.lastFlushAt >= MIRROR_PROGRESS_LAG_MS) this.writeProgress();
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
    this.lastFlushAt = Date.now();
    const events = this.pending.slice(this.progressSent);
    if (events.length === 0) return;
    this.progressSent = this.pending.length;
    mirrorSink.recordProgress({
      executionId: this.input.executionId,
      events,
      status: 'RUNNING',
      currentStep: this.currentSteps()[0] ?? null,
      ...(this.input.chunk ? {} : { runId: wf.workflowInfo().runId }),
      ...(this.input.chunk || this.rowConfirmed ? {} : { row: this.rowSeed() }),
    });
  }

  /** As V1 runs were recorded: always a promise. */
  private async flushIfBehindInTurn(): Promise<void> {
    if (changeApplies(PATCH_LEAN_RUNS) && this.mirrorIsCurrent()) return;
    await this.flush();
  }

  private mirrorIsCurrent(): boolean {
    return Date.now() - this.lastFlushAt < MIRROR_MAX_LAG_MS;
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
    if (this.pending.length === 0 && this.pendingDecisions.length === 0 && !final) return;
    this.lastFlushAt = Date.now();
    const events = this.pending;
    const decisions = this.pendingDecisions;
    this.pending = [];
    this.progressSent = 0;
    this.pendingDecisions = [];
    const update: MirrorUpdate = {
      executionId: this.input.executionId,
      events,
      ...(decisions.length ? { decisions } : {}),
      status: final?.status ?? 'RUNNING',
      currentStep: final ? null : (this.currentSteps()[0] ?? null),
      finishedAt: final ? now() : undefined,
      error: final?.error,
      // The run carrying the execution (the gateway marks it too, but after answering; and a
      // continued run has a new one). A foreach chunk is a run of its own, not the execution's.
      ...(this.input.chunk ? {} : { runId: wf.workflowInfo().runId }),
      ...(this.input.chunk || this.rowConfirmed ? {} : { row: this.rowSeed() }),
      ...(this.versionToMirror !== undefined ? { definitionVersion: this.versionToMirror } : {}),
    };
    if (final && !isFirstType()) {
      mirrorSink.recordFinal(update);
      return;
    }
    try {
      await mirror.recordRunEvents(update);
      this.rowConfirmed = true;
      this.versionToMirror = undefined;
    } catch (err) {
      // Kept for the next write, a cancelled one's too (a run moving onto another version cancels its wait's writes).
      this.pending = [...events, ...this.pending];
      this.pendingDecisions = [...decisions, ...this.pendingDecisions];
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

  private showCurrent(topLevel: boolean): void {
    const current = this.currentSteps();
    wf.setCurrentDetails(current.length ? `On step ${current.map((c) => `\`${c}\``).join(', ')}` : '');
    // Moved to where the mirror is written (see flush); asked first, so new runs record no marker for the older patch.
    if (changeApplies(PATCH_LEAN_RUNS)) return;
    // Runs started before this patch upserted on every step start; they must replay as they ran.
    if (!changeApplies(PATCH_CURRENT_STEP_ON_CHANGE)) {
      wf.upsertSearchAttributes([{ key: CurrentStep, value: current[0] ?? null }]);
      return;
    }
    if (topLevel) this.upsertCurrentStep();
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
    const top = this.currentSteps().find((c) => !c.includes('['));
    if (top !== undefined && top !== this.currentStepAttribute) {
      this.currentStepAttribute = top;
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

/** Workflow time as ISO 8601: the moment a step event or decision happened. */
export function now(): string {
  return new Date().toISOString();
}

/** A step's output as query state and mirror rows keep it: whole up to {@link OUTPUT_SUMMARY_BYTES}, else a preview. */
export function summarize(output: unknown): unknown {
  if (output === undefined) return null;
  const json = JSON.stringify(output);
  if (json === undefined) return null;
  if (json.length <= OUTPUT_SUMMARY_BYTES) return output;
  return { truncated: true, preview: json.slice(0, OUTPUT_SUMMARY_BYTES) };
}
