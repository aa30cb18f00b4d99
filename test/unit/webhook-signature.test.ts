import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  computeLegacySignature,
  computeStandardSignature,
  signLegacyWebhook,
  signStandardWebhook,
  standardSecretKey,
  verifyDelivery,
  verifyLegacySignature,
  verifyStandardSignature,
  type SignatureVerdict,
} from '../../src/gateway/webhook-signature';

const secret = `whsec_${Buffer.from('a 32-byte key for the unit tests').toString('base64')}`;
const key = standardSecretKey(secret) as Buffer;
const body = '{"orderId":"A-17","total":42}';
const id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const now = Date.parse('2026-11-25T12:00:00Z');
const t = Math.floor(now / 1000);

/** The headers of a standard delivery as the route reads them. */
function standard(headers: Record<string, string>) {
  return { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] };
}

function verify(headers: Record<string, string>, raw: Buffer | string = body, keys = [key]): SignatureVerdict {
  return verifyStandardSignature(keys, standard(headers), raw, { now });
}

describe('standard webhook signatures', () => {
  it('match the Standard Webhooks reference vector', () => {
    const vector = {
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    const headers = signStandardWebhook(vector.secret, vector.id, vector.body, vector.timestamp);
    expect(headers).toEqual({ 'webhook-id': vector.id, 'webhook-timestamp': '1614265330', 'webhook-signature': vector.signature });
    const verdict = verifyStandardSignature([standardSecretKey(vector.secret) as Buffer], standard(headers), vector.body, { now: vector.timestamp * 1000 });
    expect(verdict).toEqual({ ok: true, scheme: 'standard', deliveryId: vector.id });
  });

  it('sign "<id>.<timestamp>.<raw body>" with the decoded key, and verify what they sign from a string or the raw bytes', () => {
    const headers = signStandardWebhook(secret, id, body, t);
    const byHand = createHmac('sha256', key).update(`${id}.${t}.${body}`).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${byHand}`);
    expect(computeStandardSignature(key, id, t, Buffer.from(body))).toBe(byHand);
    expect(verify(headers)).toEqual({ ok: true, scheme: 'standard', deliveryId: id });
    expect(verify(headers, Buffer.from(body))).toEqual({ ok: true, scheme: 'standard', deliveryId: id });
  });

  it('refuse a changed id, a changed timestamp, a changed body and another secret, naming what is signed', () => {
    const headers = signStandardWebhook(secret, id, body, t);
    const mismatch = {
      ok: false,
      reason: 'mismatch',
      message: expect.stringMatching(/sign "<webhook-id>\.<webhook-timestamp>\.<raw body>".*a changed id, timestamp or body fails/),
      field: { header: 'webhook-signature', message: 'does not match the id, timestamp and body' },
    };
    expect(verify({ ...headers, 'webhook-id': 'msg_made_up_by_a_replayer' })).toEqual(mismatch);
    expect(verify({ ...headers, 'webhook-timestamp': String(t + 1) })).toEqual(mismatch);
    expect(verify(headers, body.replace('42', '4200'))).toEqual(mismatch);
    expect(verify(headers, body, [standardSecretKey(`whsec_${randomBytes(32).toString('base64')}`) as Buffer])).toEqual(mismatch);
  });

  it('refuse a timestamp outside 300 s either way, and accept one at the edge', () => {
    const expired = { ok: false, reason: 'expired', message: expect.stringMatching(/outside the tolerance of 300 s/), field: expect.objectContaining({ header: 'webhook-timestamp' }) };
    expect(verify(signStandardWebhook(secret, id, body, t - 301))).toEqual(expired);
    expect(verify(signStandardWebhook(secret, id, body, t + 301))).toEqual(expired);
    expect(verify(signStandardWebhook(secret, id, body, t - 300)).ok).toBe(true);
    expect(verify(signStandardWebhook(secret, id, body, t + 300)).ok).toBe(true);
  });

  it('accept any one of several signatures, and any one of several secrets (rotation), ignoring other versions', () => {
    const next = `whsec_${randomBytes(32).toString('base64')}`;
    const nextKey = standardSecretKey(next) as Buffer;
    // The sender signs with the old and the new secret while the gateway moves over.
    const both = signStandardWebhook([secret, next], id, body, t);
    expect(both['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verify(both, body, [key]).ok).toBe(true);
    expect(verify(both, body, [nextKey]).ok).toBe(true);
    // The gateway accepts the old and the new secret while senders move over.
    expect(verify(signStandardWebhook(next, id, body, t), body, [key, nextKey]).ok).toBe(true);
    expect(verify(signStandardWebhook(secret, id, body, t), body, [nextKey, key]).ok).toBe(true);

    const good = signStandardWebhook(secret, id, body, t)['webhook-signature'];
    const other = `v1,${Buffer.alloc(32, 7).toString('base64')}`;
    const asymmetric = `v1a,${Buffer.alloc(64, 1).toString('base64')}`;
    expect(verify({ ...both, 'webhook-signature': `${asymmetric} ${other}  ${good} v2,whatever` }).ok).toBe(true);
    expect(verify({ ...both, 'webhook-signature': `${other} ${asymmetric}` })).toMatchObject({ reason: 'mismatch' });
  });

  it('say which header is missing or malformed, and why', () => {
    const headers = signStandardWebhook(secret, id, body, t);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const without = Object.fromEntries(Object.entries(headers).filter(([n]) => n !== name));
      expect(verify(without), name).toEqual({
        ok: false,
        reason: 'missing',
        message: expect.stringContaining(`the ${name} header is missing`),
        field: { header: name, message: 'is missing' },
      });
      expect(verify({ ...headers, [name]: '  ' }), name).toMatchObject({ reason: 'missing', field: { header: name } });
    }
    const malformed: [string, string][] = [
      ['webhook-id', 'msg.with.dots'],
      ['webhook-id', 'has space'],
      ['webhook-id', 'x'.repeat(201)],
      ['webhook-timestamp', 'soon'],
      ['webhook-timestamp', '1764072000.5'],
      ['webhook-timestamp', '-1'],
      ['webhook-signature', 'v1'],
      ['webhook-signature', 'v1,'],
      ['webhook-signature', headers['webhook-signature'].slice(0, 20)],
      ['webhook-signature', `v1,${Buffer.alloc(31).toString('base64')}`],
      ['webhook-signature', `v1=${headers['webhook-signature'].slice(3)}`],
      ['webhook-signature', `,${headers['webhook-signature'].slice(3)}`],
      ['webhook-signature', `v1a,${Buffer.alloc(64).toString('base64')}`],
      ['webhook-signature', `t=${t},v1=${'a'.repeat(64)}`],
    ];
    for (const [name, value] of malformed) {
      expect(verify({ ...headers, [name]: value }), `${name}: ${value}`).toEqual({
        ok: false,
        reason: 'malformed',
        message: expect.stringContaining(`the ${name} header`),
        field: { header: name, message: expect.any(String) },
      });
    }
  });
});

describe('standard webhook secrets', () => {
  it('are whsec_ and the base64 of 24 to 64 bytes, which are the key', () => {
    const bytes = randomBytes(32);
    expect(standardSecretKey(`whsec_${bytes.toString('base64')}`)).toEqual(bytes);
    expect(standardSecretKey(`whsec_${bytes.toString('base64').replace(/=+$/, '')}`)).toEqual(bytes);
    expect(standardSecretKey(`whsec_${randomBytes(24).toString('base64')}`)).toBeInstanceOf(Buffer);
    expect(standardSecretKey(`whsec_${randomBytes(64).toString('base64')}`)).toBeInstanceOf(Buffer);
  });

  it('say what is wrong with a secret, without repeating it', () => {
    const b64 = randomBytes(32).toString('base64');
    const cases: [string, RegExp][] = [
      [b64, /is not written as whsec_<base64>/],
      [randomBytes(32).toString('hex'), /is not written as whsec_<base64>/],
      ['whsec_', /is not base64/],
      ['whsec_not base64!', /is not base64/],
      [`whsec_${randomBytes(32).toString('base64url')}_-`, /is not base64/],
      [`whsec_${randomBytes(16).toString('base64')}`, /decodes to 16 bytes; a key is 24 to 64 random bytes/],
      [`whsec_${randomBytes(65).toString('base64')}`, /decodes to 65 bytes/],
    ];
    for (const [value, message] of cases) {
      const verdict = standardSecretKey(value);
      expect(verdict, value).toMatch(message);
      if (value.length > 16) expect(verdict).not.toContain(value.slice(-10));
    }
  });
});

describe('legacy webhook signatures (X-Signature)', () => {
  const legacy = 'whsec-test-secret';

  it('verify what they sign (round trip), from a string or the raw bytes', () => {
    const header = signLegacyWebhook(legacy, body, t);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const signature = header.slice(header.indexOf('v1=') + 3);
    const ok = { ok: true, scheme: 'legacy', timestamp: t, signature };
    expect(verifyLegacySignature([legacy], header, body, { now })).toEqual(ok);
    expect(verifyLegacySignature([legacy], header, Buffer.from(body), { now })).toEqual(ok);
  });

  it('sign "<t>.<body>" with HMAC-SHA256 (a known vector)', () => {
    // echo -n '1764072000.{}' | openssl dgst -sha256 -hmac key
    const expected = '13e2f1d9453ee7f7eac0c573a7a5536c006be59944ebc03fc23a6af598d1f5c3';
    expect(computeLegacySignature('key', 1764072000, '{}')).toBe(expected);
    expect(computeLegacySignature('key', 1764072000, Buffer.from('{}'))).toBe(expected);
  });

  it('refuse a tampered body, another secret, and a moved timestamp', () => {
    const header = signLegacyWebhook(legacy, body, t);
    const tampered = verifyLegacySignature([legacy], header, body.replace('42', '4200'), { now });
    expect(tampered).toMatchObject({ ok: false, reason: 'mismatch', message: expect.stringMatching(/does not match/), field: { header: 'x-signature' } });
    expect(verifyLegacySignature(['another-secret'], header, body, { now })).toMatchObject({ ok: false, reason: 'mismatch' });
    const moved = header.replace(`t=${t}`, `t=${t + 1}`);
    expect(verifyLegacySignature([legacy], moved, body, { now })).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuse a timestamp outside 300 s either way, and accept one at the edge', () => {
    const old = signLegacyWebhook(legacy, body, t - 301);
    expect(verifyLegacySignature([legacy], old, body, { now })).toMatchObject({
      ok: false,
      reason: 'expired',
      message: expect.stringMatching(/outside the tolerance of 300 s/),
    });
    expect(verifyLegacySignature([legacy], signLegacyWebhook(legacy, body, t + 301), body, { now })).toMatchObject({ reason: 'expired' });
    expect(verifyLegacySignature([legacy], signLegacyWebhook(legacy, body, t - 300), body, { now }).ok).toBe(true);
  });

  it('say when the header is missing or malformed', () => {
    expect(verifyLegacySignature([legacy], undefined, body, { now })).toMatchObject({ reason: 'missing', message: expect.stringMatching(/missing/) });
    expect(verifyLegacySignature([legacy], '  ', body, { now })).toMatchObject({ reason: 'missing' });
    const v1 = computeLegacySignature(legacy, t, body);
    for (const header of [
      'sha256=abc',
      `v1=${v1}`,
      `t=${t}`,
      `t=soon,v1=${v1}`,
      `t=${t},v1=xyz`,
      `t=${t},v1=${v1.slice(2)}`,
      `t=${t},t=${t},v1=${v1}`,
      `t=${t};v1=${v1}`,
    ]) {
      expect(verifyLegacySignature([legacy], header, body, { now }), header).toMatchObject({
        ok: false,
        reason: 'malformed',
        message: expect.stringMatching(/malformed/),
        field: { header: 'x-signature' },
      });
    }
  });

  it('accept any one of several v1 signatures or secrets (rotation) and ignore other schemes', () => {
    const good = computeLegacySignature(legacy, t, body);
    const stale = computeLegacySignature('old-secret', t, body);
    expect(verifyLegacySignature([legacy], `t=${t},v1=${stale},v1=${good}`, body, { now }).ok).toBe(true);
    expect(verifyLegacySignature([legacy], `t=${t}, v0=whatever, v1=${good.toUpperCase()}`, body, { now })).toMatchObject({ ok: true, signature: good });
    expect(verifyLegacySignature(['old-secret', legacy], `t=${t},v1=${good}`, body, { now })).toMatchObject({ ok: true, signature: good });
  });
});

describe('verifyDelivery: the scheme the gateway is set to', () => {
  const legacySecret = 'a-legacy-secret-0123456789abcdef';
  const standardHeaders = signStandardWebhook(secret, id, body, t);
  const legacyHeaders = { 'x-signature': signLegacyWebhook(legacySecret, body, t), 'x-delivery-id': 'evt_1' };
  const check = (scheme: 'standard' | 'legacy' | 'both', headers: Record<string, string>, secrets = [secret, legacySecret]) =>
    verifyDelivery({ scheme, secrets }, (name) => headers[name], body, { now });

  it('standard: takes webhook-* headers only, and tells a legacy sender so', () => {
    expect(check('standard', standardHeaders, [secret])).toEqual({ ok: true, scheme: 'standard', deliveryId: id });
    expect(check('standard', legacyHeaders, [secret])).toMatchObject({
      ok: false,
      reason: 'missing',
      message: expect.stringMatching(/Standard Webhooks signatures only.*X-Signature, the legacy scheme, is turned off/),
      field: { header: 'webhook-signature' },
    });
    expect(check('standard', {}, [secret])).toMatchObject({ reason: 'missing', field: { header: 'webhook-id' } });
  });

  it('legacy: takes X-Signature only, with any secret as written, and tells a standard sender so', () => {
    expect(check('legacy', legacyHeaders, [legacySecret])).toMatchObject({ ok: true, scheme: 'legacy', timestamp: t });
    // A whsec_ secret signs legacy requests with its text as written, as it always has.
    expect(check('legacy', { 'x-signature': signLegacyWebhook(secret, body, t) }, [secret])).toMatchObject({ ok: true, scheme: 'legacy' });
    expect(check('legacy', standardHeaders, [secret])).toMatchObject({
      ok: false,
      reason: 'missing',
      message: expect.stringMatching(/X-Signature header is missing.*legacy scheme only/),
      field: { header: 'x-signature' },
    });
  });

  it('both: a request with webhook-* headers is checked as standard, one without as legacy', () => {
    expect(check('both', standardHeaders)).toEqual({ ok: true, scheme: 'standard', deliveryId: id });
    expect(check('both', legacyHeaders)).toMatchObject({ ok: true, scheme: 'legacy' });
    // A sender sending both is held to the standard signature: a replayer cannot fall back to X-Signature by changing webhook-id.
    expect(check('both', { ...legacyHeaders, ...standardHeaders })).toMatchObject({ ok: true, scheme: 'standard' });
    expect(check('both', { ...legacyHeaders, ...standardHeaders, 'webhook-id': 'msg_new' })).toMatchObject({ ok: false, reason: 'mismatch' });
    // A plain (legacy) secret never keys a standard signature.
    const byLegacySecret = { ...standardHeaders, 'webhook-signature': `v1,${computeStandardSignature(Buffer.from(legacySecret), id, t, body)}` };
    expect(check('both', byLegacySecret)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(check('both', {})).toMatchObject({
      reason: 'missing',
      message: expect.stringMatching(/not signed: send webhook-id, webhook-timestamp and webhook-signature.*or X-Signature/),
    });
  });
});
