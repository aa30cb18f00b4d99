/**
 * Opening connections where they are used: a sender resolves the name its
 * step gave at send time. Decrypted connections are kept for a short while,
 * and only while Postgres reports changes (the `wfa_changes` feed keys and
 * definitions use): a change to any connection drops them all, so a rotated
 * secret applies to the next attempt of every waiting or retrying step, with
 * no restart. Without a feed nothing is kept.
 */
import type { Kysely } from 'kysely';
import type { ChangeFeed } from '../../db/change-feed';
import { connectionMasterKeys, findConnection } from '../../db/connections';
import type { Database } from '../../db/schema';
import { type ConnectionFields, type ConnectionType, isConnectionType } from '../../channels/connections';
import type { KeyRingConfig } from '../config/key-rings';
import { ConnectionUnreadable, masterKeys, openSecrets } from './envelope';

/** A connection opened: its settings and secrets together, as its type declares them. */
export interface OpenedConnection<T extends ConnectionType = ConnectionType> {
  name: string;
  type: T;
  version: number;
  fields: ConnectionFields<T>;
}

/** Any opened connection, told apart by its `type`. */
export type AnyOpenedConnection = { [T in ConnectionType]: OpenedConnection<T> }[ConnectionType];

/** A step names a connection that does not exist, or is of another type. */
export class ConnectionMissing extends Error {
  constructor(
    readonly connection: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectionMissing';
  }
}

export async function openConnection<T extends ConnectionType>(db: Kysely<Database>, keys: KeyRingConfig | undefined, type: T, name: string): Promise<OpenedConnection<T>> {
  const row = await findConnection(db, name);
  if (!row) throw new ConnectionMissing(name, `no connection is named "${name}" (deleted since the definition was saved?)`);
  if (row.type !== type) throw new ConnectionMissing(name, `connection "${name}" is of type ${row.type}, not ${type}`);
  if (!keys) {
    throw new ConnectionUnreadable(name, row.master_key_id, `connection "${name}" is sealed with master key "${row.master_key_id}", and CONNECTION_KEYS is not set on this process`);
  }
  const secrets = openSecrets(masterKeys(keys), name, { ciphertext: row.secret_ciphertext, wrappedKey: row.data_key_wrapped, masterKeyId: row.master_key_id });
  // The row was written through the type's schema (src/connections/service.ts).
  const fields = { ...row.settings, ...secrets } as ConnectionFields<T>;
  return { name, type, version: row.version, fields };
}

export interface ConnectionResolverOptions {
  db: Kysely<Database>;
  keys: KeyRingConfig | undefined;
  /** Postgres's change notices; without them every use reads the row. */
  changes?: ChangeFeed | undefined;
  /** How long an opened connection is kept at most. @default 60000 */
  ttlMs?: number;
}

export interface ConnectionResolver {
  open<T extends ConnectionType>(type: T, name: string): Promise<OpenedConnection<T>>;
}

export function createConnectionResolver({ db, keys, changes, ttlMs = 60_000 }: ConnectionResolverOptions): ConnectionResolver {
  // Keyed by type and name, so an entry is of the type its key names.
  const kept = new Map<string, { at: number; opened: Promise<unknown> }>();
  changes?.subscribe((table) => {
    if (table === undefined || table === 'connections') kept.clear();
  });
  return {
    open<T extends ConnectionType>(type: T, name: string): Promise<OpenedConnection<T>> {
      const key = `${type}:${name}`;
      const hit = kept.get(key);
      if (hit && Date.now() - hit.at < ttlMs && changes?.listening) return hit.opened as Promise<OpenedConnection<T>>;
      const opened = openConnection(db, keys, type, name);
      if (changes?.listening) {
        kept.set(key, { at: Date.now(), opened });
        // A failure is not kept: the next attempt reads again.
        opened.catch(() => kept.delete(key));
      }
      return opened;
    },
  };
}

/** A connection opened by its name alone, whatever its type. */
export async function openAnyConnection(db: Kysely<Database>, keys: KeyRingConfig | undefined, name: string): Promise<AnyOpenedConnection | undefined> {
  const row = await findConnection(db, name);
  if (!row || !isConnectionType(row.type)) return undefined;
  // A connection's fields are those of the type its row names: the union member of that type.
  return (await openConnection(db, keys, row.type, name)) as AnyOpenedConnection;
}

/**
 * What a process says at start of the connections it could not open: one
 * message per connection whose master key CONNECTION_KEYS does not hold.
 */
export async function connectionsWithoutKey(db: Kysely<Database>, keys: KeyRingConfig | undefined): Promise<string[]> {
  const held = new Set(Object.keys(keys?.keys ?? {}));
  return (await connectionMasterKeys(db))
    .filter((row) => !held.has(row.master_key_id))
    .map(
      (row) =>
        `connection "${row.name}" is sealed with master key "${row.master_key_id}", which CONNECTION_KEYS does not hold: steps naming it fail until the key is added on every worker`,
    );
}
