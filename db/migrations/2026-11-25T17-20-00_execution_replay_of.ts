/**
 * A replayed execution points at the one it replays, so reports can tell a
 * second attempt from a new run and follow the chain. Frozen: later changes
 * go in new migrations.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('workflow_executions')
    .addColumn('replay_of', 'uuid', (c) => c.references('workflow_executions.id').onDelete('set null'))
    .execute();
  await db.schema.createIndex('idx_workflow_executions_replay_of').on('workflow_executions').column('replay_of').where('replay_of', 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('idx_workflow_executions_replay_of').execute();
  await db.schema.alterTable('workflow_executions').dropColumn('replay_of').execute();
}
