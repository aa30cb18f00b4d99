/**
 * Which activity attempt holds a `SENDING` delivery row
 * (`<workflow id>/<run id>/<activity id>#<attempt>`), so a later attempt of
 * the same activity takes the row over at once instead of waiting out the
 * lease: Temporal starts attempt N+1 only once attempt N is over. Null for
 * rows written before, and for deliveries made outside an activity. Frozen:
 * later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries add column claimed_by text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop column claimed_by`.execute(db);
}
