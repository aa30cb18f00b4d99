import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { ENCRYPTED_ENCODING, EncryptionCodec, encryptionKeys } from '../../src/temporal/encryption';

const base = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };
const key = () => randomBytes(32).toString('base64');
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString();

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base, ...env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"email":"ada@example.test"}') };

describe('the encryption codec', () => {
  it('seals a payload so nothing of it shows, names its key, and opens it again', async () => {
    const codec = new EncryptionCodec(encryptionKeys({ keys: { k1: key() }, currentKeyId: 'k1' }));
    const [sealed] = await codec.encode([payload]);
    expect(text(sealed!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata!['encryption-key-id'])).toBe('k1');
    expect(Buffer.from(sealed!.data!).includes('ada@example.test')).toBe(false);
    expect(Buffer.from(sealed!.data!).includes('json/plain')).toBe(false);
    const [opened] = await codec.decode([sealed!]);
    expect(text(opened!.data)).toBe('{"email":"ada@example.test"}');
    expect(text(opened!.metadata!.encoding)).toBe('json/plain');
    // Each sealing has its own nonce.
    const [again] = await codec.encode([payload]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false);
  });

  it('reads payloads of an older key after a rotation, and says which key it lacks', async () => {
    const k1 = key();
    const old = new EncryptionCodec(encryptionKeys({ keys: { k1 }, currentKeyId: 'k1' }));
    const rotated = new EncryptionCodec(encryptionKeys({ keys: { k1, k2: key() }, currentKeyId: 'k2' }));
    const [sealedOld] = await old.encode([payload]);
    const [sealedNew] = await rotated.encode([payload]);
    expect(text(sealedNew!.metadata!['encryption-key-id'])).toBe('k2');
    expect(text((await rotated.decode([sealedOld!]))[0]!.data)).toContain('ada@');
    await expect(old.decode([sealedNew!])).rejects.toThrow(/encrypted with key "k2", which ENCRYPTION_KEYS does not hold/);
  });

  it('refuses a payload changed on the way, and leaves unencrypted ones alone', async () => {
    const codec = new EncryptionCodec(encryptionKeys({ keys: { k1: key() }, currentKeyId: 'k1' }));
    const [sealed] = await codec.encode([payload]);
    const tampered = Buffer.from(sealed!.data!);
    tampered[20] = tampered[20]! ^ 1;
    await expect(codec.decode([{ ...sealed!, data: tampered }])).rejects.toThrow(/does not open with key "k1"/);
    expect(await codec.decode([payload])).toEqual([payload]);
  });
});

describe('the encryption settings', () => {
  it('are off unless ENCRYPTION_KEYS is set; the only key is the current one', () => {
    expect(loadConfig(base).encryption).toBeUndefined();
    const k = key();
    expect(loadConfig({ ...base, ENCRYPTION_KEYS: `k1:${k}` }).encryption).toEqual({ keys: { k1: k }, currentKeyId: 'k1' });
  });

  it('refuse a key of the wrong length, a malformed list, and a current key that is not one of them', () => {
    expect(problemsOf({ ENCRYPTION_KEYS: `k1:${randomBytes(16).toString('base64')}` })).toEqual([
      'ENCRYPTION_KEYS: key "k1" is 16 bytes; AES-256 needs 32 bytes (make one with: openssl rand -base64 32)',
    ]);
    expect(problemsOf({ ENCRYPTION_KEYS: 'no-colon' })[0]).toMatch(/takes <id>:<base64 key> pairs/);
    expect(problemsOf({ ENCRYPTION_KEYS: `k1:${key()},k2:${key()}` })).toEqual([
      'ENCRYPTION_KEY_ID is required when ENCRYPTION_KEYS holds several keys: name the one new payloads use (k1, k2)',
    ]);
    expect(problemsOf({ ENCRYPTION_KEYS: `k1:${key()}`, ENCRYPTION_KEY_ID: 'k9' })).toEqual(['ENCRYPTION_KEY_ID is "k9", which is not a key of ENCRYPTION_KEYS (k1)']);
    expect(problemsOf({ ENCRYPTION_KEY_ID: 'k1' })).toEqual(['ENCRYPTION_KEY_ID is set, but ENCRYPTION_KEYS is not: set the keys too']);
  });
});
