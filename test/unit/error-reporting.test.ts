/**
 * What error reports may carry: no credential headers, no request bodies or
 * cookies, no configured secret and no API key anywhere in an event; and
 * nothing at all is reported without SENTRY_DSN.
 */
import * as Sentry from '@sentry/node';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { initErrorReporting, REDACTED, reportError, scrubEvent, secretsToScrub } from '../../src/observability/sentry';

const API_KEY = `wfa_${'A1b2-C3d4_'.repeat(4)}xyz`;
const config = loadConfig({
  DATABASE_URL: 'postgres://app:db-pass-5c1e@db.internal:5432/app',
  SLACK_BOT_TOKEN: 'xoxb-unit-token-77aa',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T000/B000/secretpath',
  WEBHOOK_SIGNATURE_SECRET: 'whsec_dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU=',
  SMTP_PASS: 'abc', // too short to search for
  HTTP_SECRET_PARTNER: 'partner-unit-token-31d0',
  SENTRY_DSN: 'https://publickey@errors.example/42',
});

describe('secretsToScrub', () => {
  it('lists every secret value set, the password inside a URL on its own, longest first', () => {
    const secrets = secretsToScrub(config);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'postgres://app:db-pass-5c1e@db.internal:5432/app',
        'db-pass-5c1e',
        'xoxb-unit-token-77aa',
        'https://hooks.slack.example/services/T000/B000/secretpath',
        'whsec_dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU=',
        'dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU=',
        'partner-unit-token-31d0',
        'https://publickey@errors.example/42',
      ]),
    );
    expect(secrets).not.toContain('abc');
    expect([...secrets].sort((a, b) => b.length - a.length)).toEqual(secrets);
  });
});

describe('scrubEvent', () => {
  const secrets = secretsToScrub(config);
  const event: Sentry.Event = {
    message: `could not reach postgres://app:db-pass-5c1e@db.internal:5432/app as ${API_KEY}`,
    exception: { values: [{ type: 'Error', value: 'token xoxb-unit-token-77aa refused; password db-pass-5c1e' }] },
    request: {
      method: 'POST',
      url: 'http://gateway.example/api/hooks/order?token=partner-unit-token-31d0',
      headers: {
        Authorization: `Bearer ${API_KEY}`,
        'X-API-Key': API_KEY,
        'x-signature': 't=1,v1=abc',
        'webhook-signature': 'v1,abc=',
        Cookie: 'session=s3cr3t',
        'content-type': 'application/json',
        'x-request-id': 'req-1',
      },
      cookies: { session: 's3cr3t' },
      data: '{"card":"4111111111111111"}',
    },
    breadcrumbs: [{ category: 'http', data: { url: 'https://hooks.slack.example/services/T000/B000/secretpath', headers: { authorization: 'Basic x' } } }],
    extra: { nested: { deeper: ['whsec_dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU=', 'dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU='] }, 'xoxb-unit-token-77aa': 'as a key' },
    tags: { requestId: 'req-1' },
  };

  it('drops credential headers, the body and cookies, and keeps the rest of the request', () => {
    const scrubbed = scrubEvent(structuredClone(event), secrets);
    expect(scrubbed.request?.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': 'req-1' });
    expect(scrubbed.request).not.toHaveProperty('data');
    expect(scrubbed.request).not.toHaveProperty('cookies');
    expect(scrubbed.request?.method).toBe('POST');
    expect(scrubbed.tags).toEqual({ requestId: 'req-1' });
  });

  it('blanks every secret and API key wherever it appears, keys of objects included', () => {
    const text = JSON.stringify(scrubEvent(structuredClone(event), secrets));
    for (const secret of ['db-pass-5c1e', 'xoxb-unit-token-77aa', 'secretpath', 'dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU', 'partner-unit-token-31d0', API_KEY, 's3cr3t', '4111111111111111', 'Basic x']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(REDACTED);
    expect(text).toContain('could not reach [redacted] as [redacted]');
  });

  it('copes with cycles', () => {
    const cyclic: Record<string, unknown> = { note: 'whsec_dW5pdC10ZXN0LXdlYmhvb2stc2VjcmV0LTlmMGU=' };
    cyclic.self = cyclic;
    const scrubbed = scrubEvent({ extra: { cyclic } }, secrets);
    const out = (scrubbed.extra as { cyclic: { note: string; self: unknown } }).cyclic;
    expect(out.note).toBe(REDACTED);
    expect(out.self).toBe(out);
  });
});

describe('without SENTRY_DSN', () => {
  it('starts nothing and reports nothing', async () => {
    const plain = loadConfig({ DATABASE_URL: 'postgres://x@127.0.0.1:1/x' });
    expect(await initErrorReporting(plain, 'gateway')).toBe(false);
    expect(Sentry.isInitialized()).toBe(false);
    expect(() => reportError(new Error('nobody hears this'))).not.toThrow();
  });
});
