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

export interface Database {
  workflow_definitions: WorkflowDefinitionTable;
  workflow_definition_versions: WorkflowDefinitionVersionTable;
  workflow_executions: WorkflowExecutionTable;
  workflow_execution_logs: WorkflowExecutionLogTable;
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
