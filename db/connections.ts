/**
 * The `connections` table: queries only. Sealing and opening secrets, and
 * what a change means, are src/connections/.
 */
import { type Kysely, sql } from 'kysely';
import type { ConnectionRow, Database, NewConnectionRow } from './schema';

export async function listConnections(db: Kysely<Database>): Promise<ConnectionRow[]> {
  return db.selectFrom('connections').selectAll().orderBy('name').execute();
}

export async function findConnection(db: Kysely<Database>, name: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll().where('name', '=', name).executeTakeFirst();
}

/** The type of each named connection that exists. */
export async function connectionTypes(db: Kysely<Database>, names: readonly string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = await db.selectFrom('connections').select(['name', 'type']).where('name', 'in', [...names]).execute();
  return new Map(rows.map((r) => [r.name, r.type]));
}

/** Each connection's name and the id of the master key that wraps its data key. */
export async function connectionMasterKeys(db: Kysely<Database>): Promise<{ name: string; master_key_id: string }[]> {
  return db.selectFrom('connections').select(['name', 'master_key_id']).orderBy('name').execute();
}

/** Up to `limit` connections whose data key another master key than `current` wraps, by name after `after`. */
export async function connectionsToRewrap(
  db: Kysely<Database>,
  current: string,
  after: string,
  limit: number,
): Promise<Pick<ConnectionRow, 'id' | 'name' | 'data_key_wrapped' | 'master_key_id'>[]> {
  return db
    .selectFrom('connections')
    .select(['id', 'name', 'data_key_wrapped', 'master_key_id'])
    .where('master_key_id', '<>', current)
    .where('name', '>', after)
    .orderBy('name')
    .limit(limit)
    .execute();
}

/** Replaces a connection's wrapped data key, if it is still wrapped by `from`; false when it changed meanwhile. */
export async function rewrapDataKey(db: Kysely<Database>, id: string, from: string, to: { wrapped: Buffer; masterKeyId: string }): Promise<boolean> {
  const result = await db
    .updateTable('connections')
    .set({ data_key_wrapped: to.wrapped, master_key_id: to.masterKeyId })
    .where('id', '=', id)
    .where('master_key_id', '=', from)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Inserts a connection; undefined when its name is taken. */
export async function insertConnection(db: Kysely<Database>, row: NewConnectionRow): Promise<ConnectionRow | undefined> {
  return db.insertInto('connections').values(row).onConflict((c) => c.column('name').doNothing()).returningAll().executeTakeFirst();
}

/** Replaces a connection's fields as of `version`, making it the next version; undefined when it is gone or another change came first. */
export async function updateConnection(
  db: Kysely<Database>,
  name: string,
  version: number,
  values: Pick<NewConnectionRow, 'settings' | 'secret_ciphertext' | 'data_key_wrapped' | 'master_key_id' | 'secret_fingerprints' | 'updated_by'>,
): Promise<ConnectionRow | undefined> {
  return db
    .updateTable('connections')
    .set({ ...values, version: version + 1, updated_at: sql<Date>`now()` })
    .where('name', '=', name)
    .where('version', '=', version)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteConnection(db: Kysely<Database>, name: string): Promise<boolean> {
  const result = await db.deleteFrom('connections').where('name', '=', name).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The current version of every definition not deleted whose document mentions connections at all. */
export async function currentDocumentsNamingConnections(db: Kysely<Database>): Promise<{ key: string; version: number; document: unknown }[]> {
  return db
    .selectFrom('workflow_definitions as d')
    .innerJoin('workflow_definition_versions as v', (join) => join.onRef('v.definition_id', '=', 'd.id').onRef('v.version', '=', 'd.current_version'))
    .select(['d.key', 'v.version', 'v.document'])
    .where('d.deleted_at', 'is', null)
    .where(sql<boolean>`position('"connection"' in v.document::text) > 0`)
    .orderBy('d.key')
    .execute();
}
