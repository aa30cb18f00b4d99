/**
 * A run's deliveries are the rows under its workflow id and under its
 * foreach chunks' ids, which begin with it (`<workflow id>:<foreach path>:<first index>`).
 * The plain index on `workflow_id` serves equality only: outside the C
 * locale, Postgres reads `workflow_id like 'x:%'` through a b-tree only with
 * the pattern operator class, so without this index each look at a run's
 * deliveries read the whole ledger. Expand only. Frozen: later changes go in
 * new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index idx_deliveries_workflow_id_prefix on deliveries (workflow_id text_pattern_ops)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index idx_deliveries_workflow_id_prefix`.execute(db);
}
