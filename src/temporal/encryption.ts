/**
 * Payload encryption: an AES-256-GCM `PayloadCodec` in the data converter of
 * every client and worker, so run inputs, results, activity arguments,
 * signals, updates, queries and failure details reach Temporal (its database,
 * its backups, its UI) as ciphertext. Each encrypted payload names the key
 * that sealed it, so payloads sealed before a rotation stay readable while
 * new ones use the current key.
 *
 * Search attributes and workflow ids are not payloads: they stay in clear
 * (docs/DEPLOYMENT.md, "Encryption").
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { Config } from '../config';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

/** The `encoding` of an encrypted payload; its `data` is nonce ‖ ciphertext ‖ tag of the original payload's protobuf. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface EncryptionKeys {
  /** Key id → 32-byte key. */
  readonly keys: ReadonlyMap<string, Buffer>;
  /** The id of the key new payloads are sealed with. */
  readonly currentKeyId: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A payload this process cannot open: sealed with a key it does not hold, or changed since. */
export class PayloadUnreadable extends Error {
  constructor(
    readonly keyId: string,
    message: string,
  ) {
    super(message);
    this.name = 'PayloadUnreadable';
  }
}

/** The PayloadUnreadable in an error's cause chain (the SDK may wrap it), if any. */
export function payloadUnreadable(err: unknown): PayloadUnreadable | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth += 1) {
    if (e instanceof PayloadUnreadable || e.name === 'PayloadUnreadable') return e as PayloadUnreadable;
  }
  return undefined;
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly settings: EncryptionKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.settings.currentKeyId;
    const key = this.settings.keys.get(id)!;
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: encoder.encode(ENCRYPTED_ENCODING), [KEY_ID]: encoder.encode(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (decoder.decode(payload.metadata?.encoding ?? new Uint8Array()) !== ENCRYPTED_ENCODING) return payload;
      const id = decoder.decode(payload.metadata?.[KEY_ID] ?? new Uint8Array());
      const key = this.settings.keys.get(id);
      if (!key) {
        throw new PayloadUnreadable(id, `a payload is encrypted with key "${id}", which ENCRYPTION_KEYS does not hold: add it to ENCRYPTION_KEYS on every process (old payloads need their key)`);
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < NONCE_BYTES + TAG_BYTES) throw new PayloadUnreadable(id, `an encrypted payload (key "${id}") is too short to be one`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new PayloadUnreadable(id, `an encrypted payload does not open with key "${id}": the key or the payload was changed`);
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** The keys of the configuration (base64 by id) as the codec holds them. */
export function encryptionKeys(encryption: { keys: Readonly<Record<string, string>>; currentKeyId: string }): EncryptionKeys {
  return { keys: new Map(Object.entries(encryption.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')])), currentKeyId: encryption.currentKeyId };
}

/** The data converter of clients and workers: with the codec when encryption is on, the SDK's default otherwise. */
export function dataConverterFor(encryption: Config['encryption']): DataConverter {
  return encryption ? { payloadCodecs: [new EncryptionCodec(encryptionKeys(encryption))] } : {};
}
