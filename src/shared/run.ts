/**
 * What the gateway hands the interpreter workflow, and what the workflow
 * reports back (query result, mirror events). Workflow-safe.
 */
import type { Sinks } from '@temporalio/workflow';
import type { Definition } from './definition';
import type { MigrationCarry } from './migration';
import type { Role } from './roles';
import type { ExecutionStatus, StepEvent } from './status';

/**
 * The workflow type new runs start as. Its code is the interpreter with every
 * change made before it in force: it checks no patch of those changes, so its
 * runs record no patch markers (see workflows/generations.ts).
 */
export const INTERPRETER_WORKFLOW = 'interpreterWorkflowV2';

/**
 * The interpreter's first workflow type, still served for runs started as it
 * (and schedules made before V2): its later changes apply where the run's
 * history has their patches.
 */
export const INTERPRETER_WORKFLOW_V1 = 'interpreterWorkflow';

/** Every workflow type the worker runs the interpreter as, oldest first. */
export const INTERPRETER_WORKFLOW_TYPES = [INTERPRETER_WORKFLOW_V1, INTERPRETER_WORKFLOW] as const;

export type TriggerType = 'manual' | 'webhook' | 'schedule' | 'call';

/** The pinned definition a run executes. */
export interface DefinitionSnapshot {
  id: string;
  version: number;
  document: Definition;
}

export interface RunInput {
  executionId: string;
  definition: DefinitionSnapshot;
  triggerType: TriggerType;
  triggerData: Record<string, unknown>;
  settings?: RunSettings | undefined;
  /** Configuration values expressions read as `env.<NAME>` (EXPRESSION_ENV), captured when the run started. */
  env?: Record<string, string> | undefined;
  /** Set when this run is a chunk of a large `foreach`, started by the run that owns it. */
  chunk?: ForeachChunk | undefined;
  /** Set when this run continues an earlier one (continue-as-new): where it left off. */
  resume?: ResumeState | undefined;
}

/**
 * What a run hands to its continuation when its history grows long: the
 * next top-level step and everything later steps may read.
 */
export interface ResumeState {
  /** Index of the next top-level step to run. */
  next: number;
  vars: Record<string, unknown>;
  /** Top-level step outputs, by step id. */
  outputs: Record<string, { output: unknown; status: string }>;
  /** States of the top-level steps run so far (loop iterations' are in the mirror). */
  steps: StepState[];
  /** Events delivered but not yet taken, by signal name. */
  events: [string, (RunEvent & { receivedAt: string })[]][];
  /** The CurrentStep search attribute's value. */
  currentStep?: string | undefined;
  /** How many times the run has continued as new. */
  generation: number;
  /** Set when the run continued as new to move onto another definition version (src/shared/migration.ts). */
  migration?: MigrationCarry | undefined;
}

/**
 * A slice of a large `foreach`, run as a child workflow so no single history
 * grows past a few thousand events. It reports to the parent's mirror row.
 */
export interface ForeachChunk {
  /** Path of the `foreach` step in the parent run. */
  stepPath: string;
  /** Index of the first item in the whole list. */
  offset: number;
  items: unknown[];
  /** The parent's variables and visible step outputs when the chunk started. */
  vars: Record<string, unknown>;
  outputs: Record<string, { output: unknown; status: string }>;
  loop?: unknown;
}

export interface ForeachChunkResult {
  results: Record<string, unknown>[];
  vars: Record<string, unknown>;
}

/** What a Temporal Schedule starts: the run pins its definition version itself. */
export interface ScheduledRunInput {
  scheduled: { definitionKey: string };
}

/** Worker-independent settings fixed when the run starts, so replay sees the same values. */
export interface RunSettings {
  /** Default start-to-close timeout of a step's activity. */
  defaultStepTimeoutSeconds: number;
  /**
   * How long a step's activity may go without a heartbeat (the worker beats
   * for it while it runs) before Temporal retries it on another worker.
   * @default none, for runs started before it was set
   */
  stepHeartbeatTimeoutSeconds?: number | undefined;
  /** History length past which the run continues as new between top-level steps. @default 10000 */
  continueAsNewAfterEvents?: number | undefined;
  /**
   * How long, in all, a step waits for the product's own Postgres to answer
   * again before it fails with `DatabaseUnavailable`. While it waits, its
   * activity's `DatabaseUnavailable` failures spend none of its retries.
   * @default none, for runs started before it was set: those failures are retried like any other
   */
  databaseWaitLimitSeconds?: number | undefined;
  /**
   * Evaluation steps one expression may take in the workflow thread; an
   * expression past them is evaluated outside it (src/shared/expressions.ts,
   * `WORKFLOW_EXPRESSION_STEPS`).
   * @default none, for runs started before it was set: 2,500
   */
  expressionStepsInWorkflow?: number | undefined;
  /**
   * Evaluation steps an expression heavy by its shape (it defines a function,
   * or builds a literal range of more than 10,000 items) may take in the
   * workflow thread before it is evaluated outside it
   * (src/shared/expressions.ts, `heavyShape`; `HEAVY_EXPRESSION_STEPS`).
   * @default none, for runs started before it was set: the budget of any expression
   */
  heavyExpressionStepsInWorkflow?: number | undefined;
  /**
   * How the mirror hears of a run's progress before an activity: `sink`, by
   * the worker as the workflow task ends (no history event, no task held
   * open), the run keeping the events for its next durable write.
   * @default none, for runs started before it was set: a local activity each time
   */
  mirrorProgress?: 'sink' | undefined;
  /**
   * `http` steps that only read (GET, HEAD) are tried first as a local
   * activity, in the worker that runs the workflow task, and fall back to an
   * ordinary activity when that attempt fails or outlasts its bound
   * (workflows/run/local-reads.ts).
   * @default none, for runs started before it was set, and when `WORKFLOW_LOCAL_READS` is off: an ordinary activity each time
   */
  localReads?: boolean | undefined;
}

export type StepStatus = 'PENDING' | 'RUNNING' | 'WAITING' | 'COMPLETED' | 'FAILED' | 'SKIPPED';

export interface StepState {
  /** Where the step sits in the run: its id, prefixed by loop iterations when nested. */
  path: string;
  id: string;
  type: string;
  status: StepStatus;
  attempts: number;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
  error?: string | undefined;
  /** A bounded summary of the step's output. */
  output?: unknown;
  /** While the step waits on a timer before doing its work: until when, and why (e.g. quiet hours, channel pacing). */
  waitingUntil?: string | undefined;
  waitingReason?: string | undefined;
}

/** What the `state` query returns: the run as the workflow sees it right now. */
export interface RunState {
  executionId: string;
  status: ExecutionStatus;
  currentSteps: string[];
  /** Signal names `wait_for_signal` steps are waiting for right now. */
  waitingFor: string[];
  /** Approval steps waiting for decisions. */
  approvals: {
    stepPath: string;
    approvers: string[] | null;
    role: Role | null;
    required: number;
    decisions: ApprovalDecision[];
  }[];
  steps: StepState[];
  vars: Record<string, unknown>;
  error?: string | undefined;
  /** Workflow ids of the chunks of a large `foreach` running now; their steps are in their own state. */
  chunks?: string[] | undefined;
  /** The top-level waiting step the run can be moved onto another definition version from, right now. */
  movableAt?: string | undefined;
}

export interface RunResult {
  status: 'SUCCESS';
  steps: number;
  vars: Record<string, unknown>;
  /** What a `succeed` step returned, else null. */
  output: unknown;
}

/** One step event, written to the mirror's log table. */
export interface StepLogEvent {
  stepPath: string;
  stepId: string;
  stepType: string;
  event: StepEvent;
  at: string;
  attempt: number;
  message?: string | undefined;
  output?: unknown;
  error?: string | undefined;
  /** A FAILED step's failure type, e.g. `ProviderUnavailable` or `Timeout` (bulk recovery filters and groups by it). */
  errorType?: string | undefined;
}

/** One approval decision, as recorded in the mirror's `approval_decisions`. */
export interface ApprovalDecision {
  stepPath: string;
  sequence: number;
  decidedBy: string;
  viaKey?: string | undefined;
  decision: 'approve' | 'reject';
  comment?: string | undefined;
  automatic: boolean;
  at: string;
}

/** A decision as a caller sends it to a waiting `approval` step. */
export interface DecisionInput {
  step: string;
  decision: 'approve' | 'reject';
  by: string;
  /** The caller's API key role, for steps that name a role. */
  role?: Role | undefined;
  viaKey?: string | undefined;
  comment?: string | undefined;
}

export const DECIDE_UPDATE = 'decide';

export interface DecisionReceipt {
  accepted: true;
  stepPath: string;
  sequence: number;
}

/** One batch of mirror writes from the workflow. */
export interface MirrorUpdate {
  executionId: string;
  events: StepLogEvent[];
  decisions?: ApprovalDecision[] | undefined;
  status?: ExecutionStatus | undefined;
  currentStep?: string | null | undefined;
  finishedAt?: string | undefined;
  error?: string | undefined;
  /** The run now carrying the execution, after it continued as new. */
  runId?: string | undefined;
  /** The definition version the run now executes, after it moved onto another one. */
  definitionVersion?: number | undefined;
  /**
   * The execution's row as the run knows it, sent until the mirror has taken
   * one of the run's writes: a write that finds no row makes it from this.
   * The gateway's insert of the row is visible at once but reaches disk a
   * moment after the start is answered; a database crash in that moment
   * loses it, and this brings it back.
   */
  row?: MirrorRowSeed | undefined;
}

/** What the mirror's row of an execution holds from its start. */
export interface MirrorRowSeed {
  workflowId: string;
  definitionId: string;
  definitionVersion: number;
  triggerType: TriggerType;
  triggerData: Record<string, unknown>;
  /** When the execution started (its first run, before any continue-as-new), ISO 8601. */
  startedAt: string;
}

/**
 * What the workflow hands the worker outside its history: a run's final
 * mirror write, which the worker makes before it reports the run's completion
 * to Temporal (src/worker/mirror-sink.ts).
 */
export interface MirrorSinks extends Sinks {
  mirror: {
    recordFinal(update: MirrorUpdate): void;
    /** A progress write: one attempt, its events kept by the run for its next durable write. */
    recordProgress(update: MirrorUpdate): void;
  };
}

/** Error `type`s a step's failure can carry; retry policies and reports key on them. */
export const ERROR_TYPES = {
  /** A recipient the provider refuses: never retried. */
  InvalidRecipient: 'InvalidRecipient',
  /** The channel has no credentials or address configured: never retried. */
  ChannelNotConfigured: 'ChannelNotConfigured',
  /** The provider refused the credentials: never retried. */
  ProviderAuthFailed: 'ProviderAuthFailed',
  /** The provider refused the request as malformed: never retried. */
  ProviderRejected: 'ProviderRejected',
  /** The provider could not be reached or failed on its side: retried. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** The provider asked us to slow down: retried. */
  ProviderRateLimited: 'ProviderRateLimited',
  /** Another attempt of the same delivery is in flight: retried once it settles. */
  DeliveryInProgress: 'DeliveryInProgress',
  /** An earlier attempt may have delivered and the step is at-most-once: never retried. */
  DeliveryOutcomeUnknown: 'DeliveryOutcomeUnknown',
  /** An expression in the step failed to evaluate: never retried. */
  ExpressionFailed: 'ExpressionFailed',
  /**
   * The worker already holds as many expressions past the workflow thread's
   * limits as it evaluates at once (activities/expressions.ts): retried.
   */
  ExpressionsBusy: 'ExpressionsBusy',
  /** The step's time zone (quiet hours) is not one the runtime knows: never retried. */
  InvalidTimeZone: 'InvalidTimeZone',
  /** The channel's pacer kept answering "not yet" (clocks far apart): never retried. */
  PacingStalled: 'PacingStalled',
  /** The definition asked the run to fail. */
  StepFailed: 'StepFailed',
  /**
   * The product's own Postgres (the delivery ledger, pacing) did not answer
   * before the provider was called: the step waits for it without spending
   * its retries, and fails with this type only past WORKFLOW_DATABASE_WAIT_LIMIT.
   */
  DatabaseUnavailable: 'DatabaseUnavailable',
  /** An attempt ran past the step's timeout (or its worker stopped heartbeating): retried. */
  Timeout: 'Timeout',
  /** An error the product did not expect (a defect, or a failure no other type names): retried; report it. */
  InternalError: 'InternalError',
} as const;

export type ErrorType = keyof typeof ERROR_TYPES;

/**
 * An activity's input as the workflow hands it over: fields rendered from
 * templates, so of any JSON type until the activity validates them.
 */
export type Rendered<T> = { [K in keyof T]?: unknown } & { deliveryKey: string };

/**
 * What a message step's activity answers when the provider accepted the
 * message but Postgres was out of reach to record it: the step's output, and
 * the ledger write the run must make (the `recordDelivery` activity) before
 * it goes on, so no retry or reset sends the message again.
 */
export interface UnrecordedDelivery {
  unrecordedDelivery: { deliveryKey: string; providerMessageId?: string | undefined; result: unknown };
}

export function hasUnrecordedDelivery(value: unknown): value is UnrecordedDelivery {
  return typeof value === 'object' && value !== null && 'unrecordedDelivery' in value;
}

/** An event delivered to a run waiting at a `wait_for_signal` step (an approval, an external event). */
export interface RunEvent {
  /** The name the step waits for. */
  signal: string;
  /** Who sent it, for the record (an API key's name, a user id). */
  by?: string | undefined;
  data?: Record<string, unknown> | undefined;
}

export interface RunEventReceipt {
  accepted: true;
  stepPath: string;
}

export const DELIVER_EVENT_UPDATE = 'deliverEvent';

/** What the `call` step's activity hands back: the called definition, pinned, and its mirror row. */
export interface PreparedCall {
  executionId: string;
  definition: DefinitionSnapshot;
  templateKey: string | null;
  category: string;
  /** What a scheduled run takes from configuration (a called run inherits its caller's). */
  settings?: RunSettings | undefined;
  env?: Record<string, string> | undefined;
}

/**
 * A notification step's output when its channel had no credentials and
 * DEV_OUTBOX recorded the message in the `dev_outbox` table instead of sending.
 */
export interface OutboxResult {
  delivered: false;
  outbox: true;
  /** The `dev_outbox` row holding the message. */
  outboxId: string;
  channel: string;
  /** The variables that would have let it be sent. */
  missing: string[];
  /** Set when an earlier attempt of the same delivery recorded it. */
  deduplicated?: true;
}

/**
 * The status the deliveries reports give dev-outbox messages, beside the
 * ledger's statuses: recorded, not delivered, never tried.
 */
export const OUTBOX_DELIVERY_STATUS = 'OUTBOX';

export function isOutboxResult(value: unknown): value is OutboxResult {
  return typeof value === 'object' && value !== null && (value as { outbox?: unknown }).outbox === true;
}

/**
 * What a notification activity answers instead of sending when its channel's
 * pace (PACING_<CHANNEL>_PER_MINUTE) gives this delivery a later slot, or its
 * connection's quiet hours hold it: the workflow waits on a timer until
 * `notBefore` and calls again.
 */
export interface PacedSend {
  paced: true;
  /** The budget whose slot it waits for: `sms`, or `sms via twilio-eu` for a connection's own. */
  channel: string;
  notBefore: string;
  /**
   * Why it waits, as the run's state names the wait, when it is not the
   * slot (`<channel> pacing`): `quiet hours of twilio-eu (21:00–08:00 Europe/Berlin)`.
   */
  reason?: string;
}

export function isPacedSend(value: unknown): value is PacedSend {
  return typeof value === 'object' && value !== null && (value as { paced?: unknown }).paced === true;
}

/**
 * The details of a transient failure whose peer asked for time (a 429's
 * `Retry-After`). The wait also goes in the failure's `nextRetryDelay`, which
 * Temporal honours between attempts but workflow code cannot read, so a run
 * that retries the step itself (a read that fell back from its local
 * activity) reads it here.
 */
export interface RetryHint {
  retryAfterMs: number;
}

export function isRetryHint(value: unknown): value is RetryHint {
  return typeof value === 'object' && value !== null && typeof (value as { retryAfterMs?: unknown }).retryAfterMs === 'number';
}
