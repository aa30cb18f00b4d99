/**
 * The state of one run inside the interpreter workflow: step states, step
 * outputs (each under its own step path), variables, and the buffer of
 * mirror events. Deterministic code only.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { parseDuration } from '../src/shared/duration';
import { type ExpressionScope, evaluateExpression, ExpressionError, renderDeep } from '../src/shared/expressions';
import type { RetryPolicy, Step } from '../src/shared/definition';
import { CurrentStep } from '../src/shared/search-attributes';
import type { ExecutionStatus, StepEvent } from '../src/shared/status';
import { ERROR_TYPES, type RunEvent, type RunInput, type RunState, type StepLogEvent, type StepState } from '../src/shared/run';

export type Activities = ReturnType<typeof createActivities>;

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

export class RunContext {
  readonly steps = new Map<string, StepState>();
  readonly outputs: Record<string, { output: unknown; status: string }> = {};
  readonly vars: Record<string, unknown> = {};
  private readonly current = new Set<string>();
  private pending: StepLogEvent[] = [];
  /** Signal name → path of the step waiting for it. */
  private readonly awaiting = new Map<string, string>();
  private readonly events = new Map<string, (RunEvent & { receivedAt: string })[]>();
  status: ExecutionStatus = 'RUNNING';
  error: string | undefined;

  constructor(readonly input: RunInput) {}

  get defaultTimeoutMs(): number {
    return (this.input.settings?.defaultStepTimeoutSeconds ?? 300) * 1000;
  }

  scope(): ExpressionScope {
    const info = wf.workflowInfo();
    return {
      input: this.input.triggerData,
      vars: this.vars,
      steps: this.outputs,
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

  /** Evaluates an expression; a failure fails the step for good (retrying cannot fix it). */
  async evaluate(source: string, step: Step): Promise<unknown> {
    try {
      return await evaluateExpression(source, this.scope());
    } catch (err) {
      throw expressionFailure(err, step);
    }
  }

  async render(value: unknown, step: Step): Promise<unknown> {
    try {
      return await renderDeep(value, this.scope());
    } catch (err) {
      throw expressionFailure(err, step);
    }
  }

  /** Renders each field's templates; the activity validates the rendered values. */
  async renderFields<K extends string>(fields: Record<K, unknown>, step: Step): Promise<Record<K, unknown>> {
    const out: Partial<Record<K, unknown>> = {};
    for (const key of Object.keys(fields) as K[]) out[key] = await this.render(fields[key], step);
    return out as Record<K, unknown>;
  }

  /** Activity options for a step: its own retry policy and timeout over the defaults. */
  activityOptions(step: Step & { retry?: RetryPolicy; timeout?: string }, purpose: string): ActivityOptions {
    const retry = { ...DEFAULT_RETRY, ...step.retry };
    return {
      startToCloseTimeout: step.timeout ? (parseDuration(step.timeout) ?? this.defaultTimeoutMs) : this.defaultTimeoutMs,
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

  /** The activities, called with a step's options so the UI shows its summary. */
  activities(options: ActivityOptions): Activities {
    return wf.proxyActivities<Activities>(options);
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

  stepFinished(path: string, step: Step, output: unknown): void {
    const summary = summarize(output);
    this.outputs[step.id] = { output, status: 'COMPLETED' };
    this.update(path, { status: 'COMPLETED', finishedAt: now(), output: summary });
    this.current.delete(path);
    this.record(path, step, 'COMPLETED', { output: summary });
  }

  stepSkipped(path: string, step: Step): void {
    this.outputs[step.id] = { output: null, status: 'SKIPPED' };
    this.steps.set(path, { path, id: step.id, type: step.type, status: 'SKIPPED', attempts: 0, finishedAt: now() });
    this.record(path, step, 'SKIPPED', { message: 'guard was false' });
  }

  stepFailed(path: string, step: Step, error: string): void {
    this.outputs[step.id] = { output: null, status: 'FAILED' };
    this.update(path, { status: 'FAILED', finishedAt: now(), error });
    this.current.delete(path);
    this.record(path, step, 'FAILED', { error });
  }

  /**
   * Writes buffered events to the mirror. Called where the run is about to
   * wait anyway (before an activity or a timer) and at the end, so mirroring
   * adds one local-activity marker per wait, not one per event. A failed write
   * keeps the events for the next flush; the reconciler covers the rest.
   */
  async flush(final?: { status: ExecutionStatus; error?: string | undefined }): Promise<void> {
    if (this.pending.length === 0 && !final) return;
    const events = this.pending;
    this.pending = [];
    try {
      await mirror.recordRunEvents({
        executionId: this.input.executionId,
        events,
        status: final?.status ?? 'RUNNING',
        currentStep: final ? null : (this.currentList()[0] ?? null),
        finishedAt: final ? now() : undefined,
        error: final?.error,
      });
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      this.pending = [...events, ...this.pending];
      wf.log.warn('mirror write failed; events kept for the next write', { error: String(err) });
    }
  }

  snapshot(): RunState {
    return {
      executionId: this.input.executionId,
      status: this.status,
      currentSteps: this.currentList(),
      waitingFor: [...this.awaiting.keys()],
      steps: [...this.steps.values()],
      vars: this.vars,
      error: this.error,
    };
  }

  private currentList(): string[] {
    return [...this.current];
  }

  private showCurrent(): void {
    const current = this.currentList();
    wf.setCurrentDetails(current.length ? `On step ${current.map((c) => `\`${c}\``).join(', ')}` : '');
    wf.upsertSearchAttributes([{ key: CurrentStep, value: current[0] ?? null }]);
  }

  private update(path: string, patch: Partial<StepState>): void {
    const state = this.steps.get(path);
    if (state) Object.assign(state, patch);
  }

  private record(
    path: string,
    step: Step,
    event: StepEvent,
    extra: { output?: unknown; error?: string; message?: string } = {},
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

function expressionFailure(err: unknown, step: Step): wf.ApplicationFailure {
  const message = err instanceof ExpressionError ? err.message : String(err);
  return wf.ApplicationFailure.create({
    type: ERROR_TYPES.ExpressionFailed,
    message: `step "${step.id}": ${message}`,
    nonRetryable: true,
  });
}
