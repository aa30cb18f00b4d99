/**
 * Key rings: the AES-256 keys of payload encryption (ENCRYPTION_KEYS,
 * ENCRYPTION_KEY_ID) and the master keys of connections' secrets
 * (CONNECTION_KEYS, CONNECTION_KEY_ID), each checked as a pair.
 */
import { z } from 'zod';
import { ConfigError, list, optionalString } from './variables';

/** Payload encryption (src/temporal/encryption.ts), checked together by keyRingConfig. */
export const encryptionVariables = z.object({
  /** `<id>:<base64 of 32 bytes>`, comma-separated. */
  ENCRYPTION_KEYS: optionalString,
  ENCRYPTION_KEY_ID: optionalString,
});

/** The master keys of connections' secrets (src/connections/envelope.ts), checked together by keyRingConfig. */
export const connectionKeyVariables = z.object({
  /** `<id>:<base64 of 32 bytes>`, comma-separated. */
  CONNECTION_KEYS: optionalString,
  CONNECTION_KEY_ID: optionalString,
});

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A set of AES-256 keys by id and the current one, as ENCRYPTION_KEYS and CONNECTION_KEYS give them. */
export interface KeyRingConfig {
  /** Key id → base64 of 32 bytes. */
  readonly keys: Readonly<Record<string, string>>;
  /** The id of the key new ciphertext is made with. */
  readonly currentKeyId: string;
}

/**
 * A key ring's two variables (ENCRYPTION_KEYS and ENCRYPTION_KEY_ID, or
 * CONNECTION_KEYS and CONNECTION_KEY_ID), checked: ids, 32-byte keys, a
 * current key that is one of them.
 */
export function keyRingConfig(keysName: string, keysValue: string | undefined, idName: string, idValue: string | undefined, purpose: string): KeyRingConfig | undefined {
  if (keysValue === undefined) {
    if (idValue === undefined) return undefined;
    throw new ConfigError([`${idName} is set, but ${keysName} is not: set the keys too`]);
  }
  const problems: string[] = [];
  const keys: Record<string, string> = {};
  for (const entry of list(keysValue)) {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at).trim();
    const value = at < 0 ? '' : entry.slice(at + 1).trim();
    if (!KEY_ID_PATTERN.test(id) || !value) {
      problems.push(`${keysName} takes <id>:<base64 key> pairs separated by commas, ids of letters, digits, dots, dashes and underscores`);
      continue;
    }
    const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value, 'base64').length : 0;
    if (bytes !== 32) {
      problems.push(`${keysName}: key "${id}" is ${bytes ? `${bytes} bytes` : 'not base64'}; AES-256 needs 32 bytes (make one with: openssl rand -base64 32)`);
      continue;
    }
    if (keys[id] !== undefined) problems.push(`${keysName}: key id "${id}" appears twice`);
    keys[id] = value;
  }
  const ids = Object.keys(keys);
  const currentKeyId = idValue?.trim() ?? (ids.length === 1 ? ids[0] : undefined);
  if (problems.length === 0 && currentKeyId === undefined) problems.push(`${idName} is required when ${keysName} holds several keys: name the one ${purpose} (${ids.join(', ')})`);
  else if (problems.length === 0 && keys[currentKeyId!] === undefined) problems.push(`${idName} is "${currentKeyId}", which is not a key of ${keysName} (${ids.join(', ')})`);
  if (problems.length) throw new ConfigError(problems);
  return { keys, currentKeyId: currentKeyId! };
}
