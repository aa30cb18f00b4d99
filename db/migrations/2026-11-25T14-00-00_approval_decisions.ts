/**
 * Every approval decision — who, when, what, with which comment, and whether
 * the run decided on its own after the deadline — for reports to join with
 * executions. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('approval_decisions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('execution_id', 'uuid', (c) => c.notNull().references('workflow_executions.id').onDelete('cascade'))
    .addColumn('step_path', 'text', (c) => c.notNull())
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('decided_by', 'text', (c) => c.notNull())
    .addColumn('via_key', 'text')
    .addColumn('decision', 'text', (c) => c.notNull().check(sql`decision in ('approve', 'reject')`))
    .addColumn('comment', 'text')
    .addColumn('automatic', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('decided_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('approval_decisions_step_seq_uq', ['execution_id', 'step_path', 'sequence'])
    .execute();
  await db.schema.createIndex('idx_approval_execution').on('approval_decisions').column('execution_id').execute();
  await db.schema.createIndex('idx_approval_decided_by').on('approval_decisions').columns(['decided_by', 'decided_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('approval_decisions').execute();
}
