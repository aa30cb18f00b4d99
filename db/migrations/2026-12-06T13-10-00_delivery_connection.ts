/**
 * Each delivery names the connection its step sent through (null: the
 * channel's settings from the environment), so deliveries can be counted
 * and looked up per connection. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries add column connection text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop column connection`.execute(db);
}
