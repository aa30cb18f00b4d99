/**
 * API keys. A key is `wfa_` and 32 random bytes in base64url; only its SHA-256
 * hash and its first characters are stored, so the plaintext exists once: in
 * the answer to whoever created it. A fast hash suffices because keys are
 * random, not chosen by people.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { ApiKeyRole, ApiKeyRow, Database } from './schema';

export const API_KEY_PREFIX = 'wfa_';
/** The shape of every key this module issues. */
export const API_KEY_PATTERN = /^wfa_[A-Za-z0-9_-]{43}$/;
/** How many leading characters of a key are kept for people to recognise it by. */
export const SHOWN_PREFIX_LENGTH = 8;
/** `last_used_at` is written at most this often per key. */
export const TOUCH_INTERVAL_MS = 60_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A stored key as it may be shown: everything but the hash. */
export type ApiKeyRecord = Omit<ApiKeyRow, 'key_hash'>;

const PUBLIC_COLUMNS = ['id', 'name', 'role', 'prefix', 'created_at', 'last_used_at', 'revoked_at'] as const;

export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Stores a new key and returns it with its plaintext, which cannot be recovered later. */
export async function createApiKey(
  db: Kysely<Database>,
  input: { name: string; role: ApiKeyRole },
): Promise<{ record: ApiKeyRecord; key: string }> {
  const key = generateApiKey();
  const record = await db
    .insertInto('api_keys')
    .values({ name: input.name, role: input.role, prefix: key.slice(0, SHOWN_PREFIX_LENGTH), key_hash: hashApiKey(key) })
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirstOrThrow();
  return { record, key };
}

/** The key with this hash, unless it does not exist or was revoked. */
export async function findActiveKeyByHash(db: Kysely<Database>, keyHash: string): Promise<ApiKeyRecord | undefined> {
  return db
    .selectFrom('api_keys')
    .select(PUBLIC_COLUMNS)
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/** When each key was last written, per database handle, so a busy key costs one write a minute. */
const lastTouched = new WeakMap<Kysely<Database>, Map<string, number>>();

/**
 * Records that a key was used. Throttled to one write per key per
 * {@link TOUCH_INTERVAL_MS}: in this process by memory, across processes by
 * the update's own condition. Resolves to whether a write was attempted.
 */
export async function touchLastUsed(db: Kysely<Database>, id: string, now = Date.now()): Promise<boolean> {
  let seen = lastTouched.get(db);
  if (!seen) lastTouched.set(db, (seen = new Map()));
  const previous = seen.get(id);
  if (previous !== undefined && now - previous < TOUCH_INTERVAL_MS) return false;
  seen.set(id, now);
  try {
    await db
      .updateTable('api_keys')
      .set({ last_used_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('last_used_at', 'is', null),
          eb('last_used_at', '<', sql<Date>`now() - ${sql.raw(`interval '${TOUCH_INTERVAL_MS} milliseconds'`)}`),
        ]),
      )
      .execute();
    return true;
  } catch (err) {
    // Let the next use try again.
    if (seen.get(id) === now) seen.delete(id);
    throw err;
  }
}

/**
 * Revokes a key: it stops working at once. Revoking a revoked key keeps its
 * first revocation time. Undefined when no key has this id.
 */
export async function revokeApiKey(db: Kysely<Database>, id: string): Promise<ApiKeyRecord | undefined> {
  if (!UUID.test(id)) return undefined;
  return db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirst();
}

/** Every key, newest first, revoked ones included; never the hashes. */
export async function listApiKeys(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
  return db.selectFrom('api_keys').select(PUBLIC_COLUMNS).orderBy('created_at', 'desc').orderBy('id').execute();
}
