import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectionFieldsSchema } from '../../channels/connections';
import { ConnectionUnreadable, fingerprint, type MasterKeys, newDataKey, openSecrets, sealSecrets } from '../../src/connections/envelope';
import { loadConfig } from '../../src/config';

const ring = (current: string, ...ids: string[]): MasterKeys => ({ keys: new Map(ids.map((id) => [id, randomBytes(32)])), currentKeyId: current });

describe('envelope encryption of connection secrets', () => {
  const secrets = { botToken: 'xoxb-canary-4711', webhookUrl: 'https://hooks.example.test/T0/B0/canary' };

  it('opens what it sealed, and the ciphertext holds no plaintext', () => {
    const keys = ring('k1', 'k1');
    const sealed = sealSecrets(keys, 'ops-slack', newDataKey(), secrets);
    expect(sealed.masterKeyId).toBe('k1');
    expect(sealed.ciphertext.toString('latin1')).not.toContain('canary');
    expect(sealed.wrappedKey.length).toBe(12 + 32 + 16);
    expect(openSecrets(keys, 'ops-slack', sealed)).toEqual(secrets);
  });

  it('opens a connection sealed with an older master key while it is still held', () => {
    const old = ring('k1', 'k1');
    const sealed = sealSecrets(old, 'ops-slack', newDataKey(), secrets);
    const rotated: MasterKeys = { keys: new Map([...old.keys, ['k2', randomBytes(32)]]), currentKeyId: 'k2' };
    expect(openSecrets(rotated, 'ops-slack', sealed)).toEqual(secrets);
  });

  it('names the connection and the key id when the master key is missing', () => {
    const sealed = sealSecrets(ring('k1', 'k1'), 'ops-slack', newDataKey(), secrets);
    const error = (() => {
      try {
        openSecrets(ring('k2', 'k2'), 'ops-slack', sealed);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(ConnectionUnreadable);
    expect(error).toMatchObject({ connection: 'ops-slack', masterKeyId: 'k1' });
    expect((error as Error).message).toMatch(/connection "ops-slack" is sealed with master key "k1", which CONNECTION_KEYS does not hold/);
  });

  it('refuses a different key under the same id', () => {
    const sealed = sealSecrets(ring('k1', 'k1'), 'ops-slack', newDataKey(), secrets);
    expect(() => openSecrets(ring('k1', 'k1'), 'ops-slack', sealed)).toThrow(/does not open with master key "k1"/);
  });

  it('refuses changed ciphertext, a changed wrapped key, and secrets copied to another connection', () => {
    const keys = ring('k1', 'k1');
    const sealed = sealSecrets(keys, 'ops-slack', newDataKey(), secrets);
    const flipped = (b: Buffer, at: number) => {
      const copy = Buffer.from(b);
      copy[at] = copy[at]! ^ 1;
      return copy;
    };
    expect(() => openSecrets(keys, 'ops-slack', { ...sealed, ciphertext: flipped(sealed.ciphertext, 20) })).toThrow(ConnectionUnreadable);
    expect(() => openSecrets(keys, 'ops-slack', { ...sealed, wrappedKey: flipped(sealed.wrappedKey, 20) })).toThrow(ConnectionUnreadable);
    expect(() => openSecrets(keys, 'sales-slack', sealed)).toThrow(/secrets do not open/);
  });

  it('fingerprints tell values apart under one data key, without being a plain hash', () => {
    const key = newDataKey();
    expect(fingerprint(key, 'a')).toBe(fingerprint(key, 'a'));
    expect(fingerprint(key, 'a')).not.toBe(fingerprint(key, 'b'));
    expect(fingerprint(newDataKey(), 'a')).not.toBe(fingerprint(key, 'a'));
    expect(fingerprint(key, 'a')).toMatch(/^hmac-sha256:[0-9a-f]{12}$/);
  });
});

describe('connection types', () => {
  it('check each field, naming it under settings or secrets', () => {
    const smtp = connectionFieldsSchema('smtp').safeParse({ settings: { host: 'mail.example.test', from: 'a@example.test' }, secrets: { pass: 'x' } });
    expect(smtp.success).toBe(false);
    expect(smtp.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['settings.user', 'is required with pass']]);
    const http = connectionFieldsSchema('http').safeParse({ settings: { auth: 'bearer' }, secrets: {} });
    expect(http.error?.issues.map((i) => i.path.join('.'))).toEqual(['secrets.token']);
    const teams = connectionFieldsSchema('teams').safeParse({ secrets: { webhookUrl: 'https://example.test/hook' }, settings: { extra: 1 } });
    expect(teams.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: ['settings'] });
    expect(connectionFieldsSchema('smtp').parse({ settings: { host: 'h', from: 'a@b.c' } }).settings).toEqual({ host: 'h', from: 'a@b.c', port: 587, secure: false });
  });
});

  it("take a pacing rate of their own on every channel's type, a whole number from 0, and none on http's", () => {
    const twilio = { accountSid: `AC${'0'.repeat(32)}`, phoneNumber: '+14155550100' };
    const rate = (perMinute: unknown) => connectionFieldsSchema('twilio').safeParse({ settings: { ...twilio, perMinute }, secrets: { authToken: 't' } });
    expect(rate(30).data?.settings.perMinute).toBe(30);
    expect(rate(0).success).toBe(true);
    for (const bad of [-1, 1.5, '30', 100_001]) expect(rate(bad).error?.issues.map((i) => i.path.join('.')), String(bad)).toEqual(['settings.perMinute']);
    expect(connectionFieldsSchema('teams').parse({ settings: { perMinute: 6 }, secrets: { webhookUrl: 'https://example.test/hook' } }).settings).toEqual({ perMinute: 6 });
    const http = connectionFieldsSchema('http').safeParse({ settings: { auth: 'bearer', perMinute: 6 }, secrets: { token: 't' } });
    expect(http.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: ['settings'] });
  });

  it("take quiet hours of their own on every channel's type, in a zone written out, and none on http's", () => {
    const quiet = (quietHours: unknown) => connectionFieldsSchema('teams').safeParse({ settings: { quietHours }, secrets: { webhookUrl: 'https://example.test/hook' } });
    const night = { start: '21:00', end: '08:00', timeZone: 'Europe/Berlin' };
    expect(quiet(night).data?.settings.quietHours).toEqual(night);
    const pathsOf = (quietHours: unknown) => quiet(quietHours).error?.issues.map((i) => i.path.join('.'));
    expect(pathsOf({ ...night, timeZone: '{{ input.zone }}' })).toEqual(['settings.quietHours.timeZone']);
    expect(pathsOf({ ...night, timeZone: 'Mars/Base' })).toEqual(['settings.quietHours.timeZone']);
    expect(pathsOf({ ...night, end: '8am' })).toEqual(['settings.quietHours.end']);
    expect(pathsOf({ ...night, end: '21:00' })).toEqual(['settings.quietHours.end']);
    expect(pathsOf({ ...night, extra: 1 })).toEqual(['settings.quietHours']);
    const http = connectionFieldsSchema('http').safeParse({ settings: { auth: 'bearer', quietHours: night }, secrets: { token: 't' } });
    expect(http.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', path: ['settings'] });
  });

describe('CONNECTION_KEYS', () => {
  const base = { DATABASE_URL: 'postgres://u:p@h/d' };
  const key = randomBytes(32).toString('base64');

  it('is off unless set, and takes the only key as current', () => {
    expect(loadConfig(base).connectionKeys).toBeUndefined();
    expect(loadConfig({ ...base, CONNECTION_KEYS: `k1:${key}` }).connectionKeys).toEqual({ keys: { k1: key }, currentKeyId: 'k1' });
  });

  it('needs CONNECTION_KEY_ID with several keys, and names what is wrong', () => {
    expect(() => loadConfig({ ...base, CONNECTION_KEYS: `k1:${key},k2:${key}` })).toThrow(/CONNECTION_KEY_ID is required when CONNECTION_KEYS holds several keys/);
    expect(() => loadConfig({ ...base, CONNECTION_KEYS: 'k1:c2hvcnQ=' })).toThrow(/CONNECTION_KEYS: key "k1" is 5 bytes/);
    expect(() => loadConfig({ ...base, CONNECTION_KEY_ID: 'k1' })).toThrow(/CONNECTION_KEY_ID is set, but CONNECTION_KEYS is not/);
  });
});
