/**
 * Each delivery through a connection records the version of it the send
 * opened (null: the channel's settings from the environment, or a row written
 * before this), so an operator can tell which version of a rotated credential
 * a message went through. Expand only: a nullable column, so workers of the
 * build before, which do not write it, go on working. Frozen: later changes go
 * in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries add column connection_version integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop column connection_version`.execute(db);
}
