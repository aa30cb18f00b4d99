/**
 * The typed shape of the tables, one interface per table, as Kysely reads
 * them. Migrations under `db/migrations/` are the source of truth; this file
 * follows them.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Role } from '../src/shared/roles';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface WorkflowDefinitionTable {
  id: Generated<string>;
  key: string;
  name: string;
  description: string;
  category: string;
  enabled: boolean;
  template_key: string | null;
  trigger_type: string;
  current_version: number;
  created_by: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
  /** Set when the definition was deleted: hidden from the API, kept for its runs' history. */
  deleted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface WorkflowDefinitionVersionTable {
  definition_id: string;
  version: number;
  document: Json;
  /** The version's `sla` in milliseconds, or null when it declares none. */
  sla_ms: ColumnType<number | null, number | null | undefined, number | null>;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface WorkflowExecutionTable {
  id: string;
  definition_id: string;
  definition_version: number;
  workflow_id: string;
  run_id: string | null;
  status: string;
  trigger_type: string;
  trigger_data: Json;
  template_key: string | null;
  category: string;
  current_step: string | null;
  error: string | null;
  started_at: Generated<Date>;
  finished_at: Date | null;
  duration_ms: number | null;
  updated_at: Timestamp;
  /** The execution this one replays (same definition version and trigger data), if any. */
  replay_of: ColumnType<string | null, string | null | undefined, string | null>;
  /**
   * When the run's outcome last changed, by the database's clock: as it
   * ended, was reopened for a reset, or put back. The reports' rollup redoes
   * the days of runs whose outcome changed since its last pass.
   */
  outcome_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface WorkflowExecutionLogTable {
  id: Generated<string>;
  execution_id: string;
  step_path: string;
  step_id: string;
  step_type: string;
  event: string;
  attempt: number;
  message: string | null;
  output: Json | null;
  error: string | null;
  /** A FAILED event's failure type (e.g. ProviderUnavailable, Timeout); null on other events and on rows written before it was kept. */
  error_type: ColumnType<string | null, string | null | undefined, string | null>;
  timestamp: Timestamp;
}

export interface DeliveryTable {
  delivery_key: string;
  channel: string;
  status: string;
  attempts: Generated<number>;
  workflow_id: string;
  step_path: string;
  recipient: string | null;
  provider_message_id: string | null;
  result: Json | null;
  last_error: string | null;
  /** The activity attempt holding a SENDING row (`<workflow id>/<run id>/<activity id>#<attempt>`). */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** The connection the step sent through; null for the channel's settings from the environment. */
  connection: ColumnType<string | null, string | null | undefined, string | null>;
  /** The version of `connection` the send opened; null for the environment's settings, and in rows written before it was recorded. */
  connection_version: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** Roles of an API key (src/shared/roles.ts); the migration's check constraint lists the same. */
export type ApiKeyRole = Role;

export interface ApiKeyTable {
  id: Generated<string>;
  name: string;
  role: ApiKeyRole;
  /** The key's first characters, for people to tell keys apart; never enough to use it. */
  prefix: string;
  /** SHA-256 (hex) of the whole key; the key itself is never stored. */
  key_hash: string;
  created_at: Generated<Date>;
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface ApprovalDecisionTable {
  id: Generated<string>;
  execution_id: string;
  step_path: string;
  sequence: number;
  decided_by: string;
  via_key: string | null;
  decision: 'approve' | 'reject';
  comment: string | null;
  automatic: Generated<boolean>;
  decided_at: Timestamp;
}

export interface ChannelPacingTable {
  channel: string;
  next_slot: Timestamp;
}

export interface PacingReservationTable {
  delivery_key: string;
  channel: string;
  slot: Timestamp;
  created_at: Generated<Date>;
}

/** A message a notification step recorded instead of sending, its channel having no credentials (DEV_OUTBOX). */
export interface DevOutboxTable {
  id: Generated<string>;
  delivery_key: string;
  channel: string;
  workflow_id: string;
  step_path: string;
  recipient: string | null;
  message: Json;
  created_at: Generated<Date>;
}

export type RecoveryAction = 'reset' | 'replay';
export type BatchStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLED';
export type BatchItemOutcome = 'PENDING' | 'WORKING' | 'DONE' | 'FAILED' | 'SKIPPED';

/** A bulk reset or replay: its filter, why and by whom, and the Temporal workflow that works through its items. */
export interface RecoveryBatchTable {
  id: string;
  action: RecoveryAction;
  reset_to: 'failed-step' | 'start' | null;
  filter: Json;
  reason: string;
  requested_by: string;
  via_key: string | null;
  concurrency: number;
  total: number;
  status: ColumnType<BatchStatus, BatchStatus | undefined, BatchStatus>;
  workflow_id: string;
  created_at: Generated<Date>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** One run of a batch: the run it acts on, its place in line, and how it ended. */
export interface RecoveryBatchItemTable {
  batch_id: string;
  execution_id: string;
  run_id: string;
  position: number;
  outcome: ColumnType<BatchItemOutcome, BatchItemOutcome | undefined, BatchItemOutcome>;
  /** The activity (`<workflow id>/<run id>/<activity id>`) working on it, so a retry of that activity takes it up again. */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  detail: ColumnType<string | null, string | null | undefined, string | null>;
  result: ColumnType<unknown, string | null | undefined, string | null>;
  updated_at: Timestamp;
}

/** Which batch acted on a failed run: the first to claim it; any other skips it. */
export interface RecoveryClaimTable {
  execution_id: string;
  run_id: string;
  batch_id: string;
  claimed_at: Generated<Date>;
}

/** Every reset, replay and batch: who, when, why, on what, and how it ended. */
export interface AuditLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  actor: string;
  via_key: string | null;
  action: string;
  target: string;
  reason: string | null;
  filter: ColumnType<unknown, string | null | undefined, string | null>;
  outcome: Json;
}

/** How far each report rollup's last pass got (db/reports.ts). */
export interface ReportRollupStateTable {
  name: string;
  watermark: Date | null;
  mark: string | null;
  previous_mark: string | null;
  refreshed_at: Date;
}

/**
 * A rollup's UTC day. The queries read it as text (`day::text`): pg would
 * make a `date` a Date at local midnight.
 */
type Day = ColumnType<Date, string, never>;

/** Runs that ended, by the UTC day they started, definition and version (db/reports.ts redoes a day at a time). */
export interface ReportRunsDailyTable {
  day: Day;
  definition_id: string;
  definition_version: number;
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  timed_out: number;
  terminated: number;
  sla_breached: number;
  duration_sum_ms: number;
}

/** Successful runs' durations as a histogram: bucket b holds durations in [1.1^b, 1.1^(b+1)) ms. */
export interface ReportDurationsDailyTable {
  day: Day;
  definition_id: string;
  definition_version: number;
  bucket: number;
  runs: number;
}

/** Step events by the UTC day they happened. */
export interface ReportStepsDailyTable {
  day: Day;
  definition_id: string;
  definition_version: number;
  step_id: string;
  step_type: string;
  started: number;
  completed: number;
  failed: number;
  skipped: number;
}

/** Failed step events by day, step and failure type ('' for none), with a sample message. */
export interface ReportStepErrorsDailyTable {
  day: Day;
  definition_id: string;
  step_id: string;
  error_type: string;
  failures: number;
  sample: string | null;
}

/** Deliveries by the UTC day they were first tried, channel and ledger status. */
export interface ReportDeliveriesDailyTable {
  day: Day;
  channel: string;
  /** The connection the deliveries went through; '' for the channel's settings from the environment. */
  connection: string;
  status: string;
  deliveries: number;
  attempts: number;
}

/** A named, typed credential that steps name; its secrets only sealed (src/connections/envelope.ts). */
export interface ConnectionTable {
  id: string;
  name: string;
  type: string;
  /** 1 when created, one more at each update. */
  version: number;
  /** The type's non-secret fields, as written. */
  settings: Json<Record<string, unknown>>;
  /** The secret fields' JSON, sealed with the data key (nonce ‖ ciphertext ‖ tag). */
  secret_ciphertext: Buffer;
  /** The data key, sealed with the master key `master_key_id`. */
  data_key_wrapped: Buffer;
  master_key_id: string;
  /** Secret field → fingerprint, for every secret field that is set. */
  secret_fingerprints: Json<Record<string, string>>;
  created_by: string;
  created_at: Generated<Date>;
  updated_by: string;
  updated_at: Timestamp;
}

export interface Database {
  workflow_definitions: WorkflowDefinitionTable;
  workflow_definition_versions: WorkflowDefinitionVersionTable;
  workflow_executions: WorkflowExecutionTable;
  workflow_execution_logs: WorkflowExecutionLogTable;
  api_keys: ApiKeyTable;
  deliveries: DeliveryTable;
  approval_decisions: ApprovalDecisionTable;
  dev_outbox: DevOutboxTable;
  channel_pacing: ChannelPacingTable;
  pacing_reservations: PacingReservationTable;
  recovery_batches: RecoveryBatchTable;
  recovery_batch_items: RecoveryBatchItemTable;
  recovery_claims: RecoveryClaimTable;
  audit_log: AuditLogTable;
  connections: ConnectionTable;
  report_rollup_state: ReportRollupStateTable;
  report_runs_daily: ReportRunsDailyTable;
  report_durations_daily: ReportDurationsDailyTable;
  report_steps_daily: ReportStepsDailyTable;
  report_step_errors_daily: ReportStepErrorsDailyTable;
  report_deliveries_daily: ReportDeliveriesDailyTable;
}

export type DefinitionRow = Selectable<WorkflowDefinitionTable>;
export type NewDefinitionRow = Insertable<WorkflowDefinitionTable>;
export type DefinitionUpdate = Updateable<WorkflowDefinitionTable>;
export type DefinitionVersionRow = Selectable<WorkflowDefinitionVersionTable>;
export type ExecutionRow = Selectable<WorkflowExecutionTable>;
export type NewExecutionRow = Insertable<WorkflowExecutionTable>;
export type ExecutionUpdate = Updateable<WorkflowExecutionTable>;
export type ExecutionLogRow = Selectable<WorkflowExecutionLogTable>;
export type NewExecutionLogRow = Insertable<WorkflowExecutionLogTable>;
export type DeliveryRow = Selectable<DeliveryTable>;
export type ApiKeyRow = Selectable<ApiKeyTable>;
export type ApprovalDecisionRow = Selectable<ApprovalDecisionTable>;
export type DevOutboxRow = Selectable<DevOutboxTable>;
export type NewDevOutboxRow = Insertable<DevOutboxTable>;
export type RecoveryBatchRow = Selectable<RecoveryBatchTable>;
export type NewRecoveryBatchRow = Insertable<RecoveryBatchTable>;
export type RecoveryBatchItemRow = Selectable<RecoveryBatchItemTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
export type ConnectionRow = Selectable<ConnectionTable>;
export type NewConnectionRow = Insertable<ConnectionTable>;
export type ConnectionUpdate = Updateable<ConnectionTable>;
