/**
 * Moving every connection to the current master key after a rotation: each
 * data key is unwrapped with the old master key and wrapped with the current
 * one, in batches; the secrets' ciphertext, the version and the fingerprints
 * stay. Online: a row updated meanwhile (sealed anew under the current key)
 * is left as it is, and workers drop what they kept on the change notice.
 */
import type { Kysely } from 'kysely';
import { connectionsToRewrap, rewrapDataKey } from '../../db/connections';
import type { Database } from '../../db/schema';
import type { KeyRingConfig } from '../config/key-rings';
import { ConnectionUnreadable, masterKeys, unwrapDataKey, wrapDataKey } from './envelope';

export interface RewrapProgress {
  /** Connections moved to the current key so far. */
  rewrapped: number;
  /** Connections that cannot be opened (their master key is not held), by name, with why. */
  unreadable: { name: string; masterKeyId: string; message: string }[];
}

export interface RewrapOptions {
  /** Connections per batch. @default 100 */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (progress: RewrapProgress) => void;
}

export async function rewrapConnections(db: Kysely<Database>, config: KeyRingConfig, { batchSize = 100, onProgress }: RewrapOptions = {}): Promise<RewrapProgress> {
  const keys = masterKeys(config);
  const progress: RewrapProgress = { rewrapped: 0, unreadable: [] };
  for (let after = ''; ; ) {
    const batch = await connectionsToRewrap(db, keys.currentKeyId, after, batchSize);
    if (batch.length === 0) break;
    for (const row of batch) {
      try {
        const dataKey = unwrapDataKey(keys, row.name, { wrappedKey: row.data_key_wrapped, masterKeyId: row.master_key_id });
        if (await rewrapDataKey(db, row.id, row.master_key_id, wrapDataKey(keys, dataKey))) progress.rewrapped += 1;
      } catch (err) {
        if (!(err instanceof ConnectionUnreadable)) throw err;
        progress.unreadable.push({ name: row.name, masterKeyId: row.master_key_id, message: err.message });
      }
    }
    after = batch.at(-1)!.name;
    onProgress?.(progress);
  }
  return progress;
}
