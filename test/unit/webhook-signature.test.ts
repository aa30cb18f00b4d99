import { describe, expect, it } from 'vitest';
import { computeSignature, signWebhook, verifyWebhookSignature } from '../../src/gateway/webhook-signature';

const secret = 'whsec-test-secret';
const body = '{"orderId":"A-17","total":42}';
const now = Date.parse('2026-11-25T12:00:00Z');
const t = Math.floor(now / 1000);

describe('webhook signatures', () => {
  it('verify what they sign (round trip), from a string or the raw bytes', () => {
    const header = signWebhook(secret, body, t);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const signature = header.slice(header.indexOf('v1=') + 3);
    expect(verifyWebhookSignature(secret, header, body, { now })).toEqual({ ok: true, timestamp: t, signature });
    expect(verifyWebhookSignature(secret, header, Buffer.from(body), { now })).toEqual({ ok: true, timestamp: t, signature });
  });

  it('sign "<t>.<body>" with HMAC-SHA256 (a known vector)', () => {
    // echo -n '1764072000.{}' | openssl dgst -sha256 -hmac key
    const expected = '13e2f1d9453ee7f7eac0c573a7a5536c006be59944ebc03fc23a6af598d1f5c3';
    expect(computeSignature('key', 1764072000, '{}')).toBe(expected);
    expect(computeSignature('key', 1764072000, Buffer.from('{}'))).toBe(expected);
  });

  it('refuse a tampered body, another secret, and a moved timestamp', () => {
    const header = signWebhook(secret, body, t);
    const tampered = verifyWebhookSignature(secret, header, body.replace('42', '4200'), { now });
    expect(tampered).toMatchObject({ ok: false, reason: 'mismatch', message: expect.stringMatching(/does not match/) });
    expect(verifyWebhookSignature('another-secret', header, body, { now })).toMatchObject({ ok: false, reason: 'mismatch' });
    const moved = header.replace(`t=${t}`, `t=${t + 1}`);
    expect(verifyWebhookSignature(secret, moved, body, { now })).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuse a timestamp outside 300 s either way, and accept one at the edge', () => {
    const old = signWebhook(secret, body, t - 301);
    expect(verifyWebhookSignature(secret, old, body, { now })).toMatchObject({
      ok: false,
      reason: 'expired',
      message: expect.stringMatching(/outside the tolerance of 300 s/),
    });
    expect(verifyWebhookSignature(secret, signWebhook(secret, body, t + 301), body, { now })).toMatchObject({ reason: 'expired' });
    expect(verifyWebhookSignature(secret, signWebhook(secret, body, t - 300), body, { now }).ok).toBe(true);
  });

  it('say when the header is missing or malformed', () => {
    expect(verifyWebhookSignature(secret, undefined, body, { now })).toMatchObject({ reason: 'missing', message: expect.stringMatching(/missing/) });
    expect(verifyWebhookSignature(secret, '  ', body, { now })).toMatchObject({ reason: 'missing' });
    const v1 = computeSignature(secret, t, body);
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
      expect(verifyWebhookSignature(secret, header, body, { now }), header).toMatchObject({
        ok: false,
        reason: 'malformed',
        message: expect.stringMatching(/malformed/),
      });
    }
  });

  it('accept any one of several v1 signatures (secret rotation) and ignore other schemes', () => {
    const good = computeSignature(secret, t, body);
    const stale = computeSignature('old-secret', t, body);
    expect(verifyWebhookSignature(secret, `t=${t},v1=${stale},v1=${good}`, body, { now }).ok).toBe(true);
    expect(verifyWebhookSignature(secret, `t=${t}, v0=whatever, v1=${good.toUpperCase()}`, body, { now }).ok).toBe(true);
  });
});
