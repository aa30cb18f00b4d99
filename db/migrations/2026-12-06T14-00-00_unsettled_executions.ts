/**
 * The reconciler's look for rows still open (PENDING or RUNNING), oldest
 * write first, reads an index of the open rows only: without it each pass
 * (every 5 s on every worker) read the whole table, so it cost more the more
 * runs had ever finished. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index idx_execution_unsettled on workflow_executions (updated_at) where status in ('PENDING', 'RUNNING')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index idx_execution_unsettled`.execute(db);
}
