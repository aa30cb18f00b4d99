/**
 * Postgres tells listeners when an API key or a definition changes, whoever
 * changed it (the gateway, `npm run keys`, an admin in psql): a NOTIFY on the
 * `wfa_changes` channel with `<table>:<id>`, sent when the transaction commits.
 * Gateways keep these rows in memory and drop them on notice (see
 * db/change-feed.ts). An API key's `last_used_at` is not a change anyone
 * caches, so writing it notifies nobody. Frozen: later changes go in new
 * migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function wfa_notify_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('wfa_changes', tg_table_name || ':' || coalesce(new.id, old.id)::text);
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger api_keys_changed
    after update of key_hash, name, role, revoked_at or delete on api_keys
    for each row execute function wfa_notify_change()`.execute(db);
  await sql`
    create trigger workflow_definitions_changed
    after insert or update or delete on workflow_definitions
    for each row execute function wfa_notify_change()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger workflow_definitions_changed on workflow_definitions`.execute(db);
  await sql`drop trigger api_keys_changed on api_keys`.execute(db);
  await sql`drop function wfa_notify_change()`.execute(db);
}
