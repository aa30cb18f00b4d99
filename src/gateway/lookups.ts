/**
 * The rows nearly every request reads — the caller's API key, the definition
 * it starts — kept in memory while Postgres tells this gateway of every change
 * to them (db/change-feed.ts). Without a feed, or while it is not listening,
 * every lookup reads the database, as before.
 *
 * A revoked key or a disabled definition therefore stops working on this
 * gateway when the notice arrives (milliseconds after the commit), and at once
 * when this gateway made the change itself ({@link Lookups.forget}). Rows are
 * also re-read after {@link MAX_AGE_MS} whatever the notices say, should a
 * connection fail silently. Only rows found are kept: a key not found (a typo,
 * a guess) is looked up every time.
 */
import type { Kysely } from 'kysely';
import { type ApiKeyRecord, findActiveKeyByHash } from '../../db/api-keys';
import type { ChangeFeed } from '../../db/change-feed';
import { findDefinition } from '../../db/definitions';
import type { Database, DefinitionRow } from '../../db/schema';

/** Longest a kept row is used before it is read again. */
export const MAX_AGE_MS = 30_000;
/** Rows kept per table; past it the oldest go. */
export const MAX_ENTRIES = 10_000;

export type CachedTable = 'api_keys' | 'workflow_definitions';

export interface Lookups {
  /** The active (not revoked) key with this hash. */
  activeKey(keyHash: string): Promise<ApiKeyRecord | undefined>;
  /** A definition not deleted, by id or key. */
  definition(idOrKey: string): Promise<DefinitionRow | undefined>;
  /** This process just changed rows of `table`: forget them now, not when the notice comes. */
  forget(table: CachedTable): void;
}

/** Kept rows of one table, by lookup key; found rows only, read-only. */
class RowCache<V extends object> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  /** Bumped on every forget, so a read that began before it does not keep what it found. */
  private generation = 0;

  constructor(private readonly feed: ChangeFeed | undefined) {}

  async get(key: string, read: () => Promise<V | undefined>): Promise<V | undefined> {
    if (!this.feed?.listening) return read();
    const kept = this.entries.get(key);
    if (kept && Date.now() - kept.at < MAX_AGE_MS) return kept.value;
    const generation = this.generation;
    const value = await read();
    if (value !== undefined && this.feed.listening && generation === this.generation) {
      this.entries.delete(key);
      this.entries.set(key, { value: Object.freeze(value), at: Date.now() });
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return value;
  }

  forget(): void {
    this.generation += 1;
    this.entries.clear();
  }
}

export function createLookups(db: Kysely<Database>, feed?: ChangeFeed): Lookups {
  const keys = new RowCache<ApiKeyRecord>(feed);
  const definitions = new RowCache<DefinitionRow>(feed);
  const forget = (table: string | undefined) => {
    if (table === undefined || table === 'api_keys') keys.forget();
    if (table === undefined || table === 'workflow_definitions') definitions.forget();
  };
  feed?.subscribe(forget);
  return {
    activeKey: (keyHash) => keys.get(keyHash, () => findActiveKeyByHash(db, keyHash)),
    definition: (idOrKey) => definitions.get(idOrKey, () => findDefinition(db, idOrKey)),
    forget,
  };
}
