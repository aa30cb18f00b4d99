/**
 * Definitions with an immutable version history, executions, and one log row
 * per step event. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('workflow_definitions')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('category', 'text', (c) => c.notNull().defaultTo('general'))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('template_key', 'text')
    .addColumn('trigger_type', 'text', (c) => c.notNull().defaultTo('manual'))
    .addColumn('current_version', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('workflow_definition_versions')
    .addColumn('definition_id', 'uuid', (c) => c.notNull().references('workflow_definitions.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('document', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('workflow_definition_versions_pk', ['definition_id', 'version'])
    .execute();

  await db.schema
    .createTable('workflow_executions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('definition_id', 'uuid', (c) => c.notNull().references('workflow_definitions.id'))
    .addColumn('definition_version', 'integer', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('run_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger_type', 'text', (c) => c.notNull())
    .addColumn('trigger_data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('template_key', 'text')
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('current_step', 'text')
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('duration_ms', 'bigint')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint(
      'workflow_executions_version_fk',
      ['definition_id', 'definition_version'],
      'workflow_definition_versions',
      ['definition_id', 'version'],
    )
    .execute();

  await db.schema
    .createTable('workflow_execution_logs')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('execution_id', 'uuid', (c) => c.notNull().references('workflow_executions.id').onDelete('cascade'))
    .addColumn('step_path', 'text', (c) => c.notNull())
    .addColumn('step_id', 'text', (c) => c.notNull())
    .addColumn('step_type', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('message', 'text')
    .addColumn('output', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('timestamp', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // The workflow and the reconciler may both write an event: the second write is a no-op.
    .addUniqueConstraint('workflow_execution_logs_event_uq', ['execution_id', 'step_path', 'event', 'attempt'])
    .execute();

  // The indexes of the deployment guide, on these tables.
  await db.schema.createIndex('idx_workflow_enabled').on('workflow_definitions').column('enabled').execute();
  await db.schema.createIndex('idx_workflow_category').on('workflow_definitions').column('category').execute();
  await db.schema.createIndex('idx_workflow_created_by').on('workflow_definitions').column('created_by').execute();
  await db.schema
    .createIndex('idx_execution_workflow_id')
    .on('workflow_executions')
    .columns(['definition_id', 'started_at'])
    .execute();
  await db.schema.createIndex('idx_execution_status').on('workflow_executions').columns(['status', 'started_at']).execute();
  await db.schema.createIndex('idx_execution_started_at').on('workflow_executions').column('started_at').execute();
  await db.schema.createIndex('idx_log_execution_id').on('workflow_execution_logs').column('execution_id').execute();
  await db.schema.createIndex('idx_log_timestamp').on('workflow_execution_logs').column('timestamp').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('workflow_execution_logs').execute();
  await db.schema.dropTable('workflow_executions').execute();
  await db.schema.dropTable('workflow_definition_versions').execute();
  await db.schema.dropTable('workflow_definitions').execute();
}
