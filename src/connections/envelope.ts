/**
 * Envelope encryption of a connection's secrets. Each connection has its own
 * random 256-bit data key, which seals its secret fields (AES-256-GCM, the
 * connection's name as associated data, so a ciphertext copied onto another
 * row does not open); a master key of CONNECTION_KEYS wraps the data key (the
 * master key's id as associated data). Rotating the master key re-wraps data
 * keys only; the secrets' ciphertext stays.
 *
 * Sealed form: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { KeyRingConfig } from '../config/key-rings';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

/** Master keys by id, and the one new data keys are wrapped with. */
export interface MasterKeys {
  readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentKeyId: string;
}

export function masterKeys(config: KeyRingConfig): MasterKeys {
  return { keys: new Map(Object.entries(config.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')])), currentKeyId: config.currentKeyId };
}

/** A connection's secrets at rest, as its row holds them. */
export interface SealedSecrets {
  ciphertext: Buffer;
  wrappedKey: Buffer;
  masterKeyId: string;
}

/**
 * A connection that cannot be opened: its master key is not among
 * CONNECTION_KEYS, or its row was changed or copied. Never an empty
 * credential: whoever uses the connection fails, naming it and the key.
 */
export class ConnectionUnreadable extends Error {
  constructor(
    readonly connection: string,
    readonly masterKeyId: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectionUnreadable';
  }
}

function seal(key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or undefined when the key is wrong or the data was changed. */
function unseal(key: Buffer, sealed: Buffer, aad: string): Buffer | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** A new random data key. */
export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/** The data key of a connection, unwrapped with its master key. */
export function unwrapDataKey(keys: MasterKeys, connection: string, sealed: Pick<SealedSecrets, 'wrappedKey' | 'masterKeyId'>): Buffer {
  const master = keys.keys.get(sealed.masterKeyId);
  if (!master) {
    throw new ConnectionUnreadable(
      connection,
      sealed.masterKeyId,
      `connection "${connection}" is sealed with master key "${sealed.masterKeyId}", which CONNECTION_KEYS does not hold: add that key to CONNECTION_KEYS on every gateway and worker`,
    );
  }
  const dataKey = unseal(master, sealed.wrappedKey, sealed.masterKeyId);
  if (!dataKey || dataKey.length !== DATA_KEY_BYTES) {
    throw new ConnectionUnreadable(
      connection,
      sealed.masterKeyId,
      `connection "${connection}": its data key does not open with master key "${sealed.masterKeyId}" (a different key under the same id, or a changed row)`,
    );
  }
  return dataKey;
}

/** The data key wrapped again, with the current master key. */
export function wrapDataKey(keys: MasterKeys, dataKey: Buffer): { wrapped: Buffer; masterKeyId: string } {
  return { wrapped: seal(keys.keys.get(keys.currentKeyId)!, dataKey, keys.currentKeyId), masterKeyId: keys.currentKeyId };
}

/**
 * Seals `secrets` for the connection `connection` with `dataKey` (a new one
 * for a new connection, its own when it is updated), wrapped with the current
 * master key.
 */
export function sealSecrets(keys: MasterKeys, connection: string, dataKey: Buffer, secrets: Record<string, unknown>): SealedSecrets {
  const master = keys.keys.get(keys.currentKeyId)!;
  return {
    ciphertext: seal(dataKey, Buffer.from(JSON.stringify(secrets), 'utf8'), connection),
    wrappedKey: seal(master, dataKey, keys.currentKeyId),
    masterKeyId: keys.currentKeyId,
  };
}

/** The secrets of the connection `connection`; throws {@link ConnectionUnreadable} when they cannot be opened. */
export function openSecrets(keys: MasterKeys, connection: string, sealed: SealedSecrets): Record<string, unknown> {
  const dataKey = unwrapDataKey(keys, connection, sealed);
  const plain = unseal(dataKey, sealed.ciphertext, connection);
  if (!plain) {
    throw new ConnectionUnreadable(connection, sealed.masterKeyId, `connection "${connection}": its secrets do not open with their data key (the row was changed or copied from another connection)`);
  }
  return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
}

/**
 * A secret's fingerprint, to tell values apart without showing them: the
 * first 12 hex digits of its HMAC-SHA256 under the connection's data key, so
 * a fingerprint cannot be checked against guesses without that key.
 */
export function fingerprint(dataKey: Buffer, value: unknown): string {
  return `hmac-sha256:${createHmac('sha256', dataKey).update(JSON.stringify(value)).digest('hex').slice(0, 12)}`;
}
