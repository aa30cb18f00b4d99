/**
 * The typed shape of the tables, one interface per table, as Kysely reads
 * them. Migrations under `db/migrations/` are the source of truth; this file
 * follows them.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

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
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** Roles of an API key, lowest first; the migration's check constraint lists the same. */
export type ApiKeyRole = 'viewer' | 'operator' | 'admin';

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
