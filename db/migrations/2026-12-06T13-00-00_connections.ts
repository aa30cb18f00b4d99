/**
 * Connections: named, typed, versioned credentials that steps name. Settings
 * are stored as written; secrets only sealed (src/connections/envelope.ts):
 * their ciphertext under the connection's data key, the data key wrapped by a
 * master key named by id, and a fingerprint per secret field. Changes NOTIFY
 * `wfa_changes` like keys and definitions, so workers drop what they cached.
 * Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table connections (
      id uuid primary key,
      name text not null unique,
      type text not null,
      version integer not null default 1,
      settings jsonb not null,
      secret_ciphertext bytea not null,
      data_key_wrapped bytea not null,
      master_key_id text not null,
      secret_fingerprints jsonb not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_by text not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create trigger connections_changed
    after insert or update or delete on connections
    for each row execute function wfa_notify_change()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table connections`.execute(db);
}
