/**
 * Deleting a definition hides it (`deleted_at`) rather than removing it: its
 * versions stay, so the runs that pinned them keep their history for reports,
 * and its key stays taken, so workflow ids and idempotency keys made from it
 * never point at two definitions. Frozen: later changes go in new migrations.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('workflow_definitions').addColumn('deleted_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('workflow_definitions').dropColumn('deleted_at').execute();
}
