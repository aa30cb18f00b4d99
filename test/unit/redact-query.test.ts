import { describe, expect, it } from 'vitest';
import { isCredentialParam, redactQueryCredentials } from '../../src/logger';
import { scrubEvent, scrubValue } from '../../src/observability/sentry';

const KEY = `wfa_${'k'.repeat(43)}`;

describe('isCredentialParam', () => {
  it('knows credential names whatever their case and separators', () => {
    for (const name of ['key', 'KEY', 'api_key', 'apikey', 'Api-Key', 'x-api-key', 'token', 'access_token', 'refresh_token', 'signature', 'X-Amz-Signature', 'sig', 'password', 'secret', 'client_secret', 'code', 'auth']) {
      expect(isCredentialParam(name), name).toBe(true);
    }
  });

  it('leaves the API\'s own parameters alone', () => {
    for (const name of ['q', 'limit', 'offset', 'status', 'definition', 'from', 'to', 'cursor', 'category', 'enabled', 'force', 'mine', 'target', 'before', 'state', 'signal']) {
      expect(isCredentialParam(name), name).toBe(false);
    }
  });
});

describe('redactQueryCredentials', () => {
  it('blanks the value of each credential parameter and nothing else', () => {
    expect(redactQueryCredentials(`/api/executions?status=FAILED&api_key=${KEY}&limit=5`)).toBe('/api/executions?status=FAILED&api_key=[redacted]&limit=5');
    expect(redactQueryCredentials(`/x?key=${KEY}`)).toBe('/x?key=[redacted]');
    expect(redactQueryCredentials('/x?TOKEN=abc;sig=def&password=p%40ss&secret=s')).toBe('/x?TOKEN=[redacted];sig=[redacted]&password=[redacted]&secret=[redacted]');
    expect(redactQueryCredentials('/x?access_token=a.b.c&signature=ab==')).toBe('/x?access_token=[redacted]&signature=[redacted]');
    expect(redactQueryCredentials('/console/?code=abc&state=xyz')).toBe('/console/?code=[redacted]&state=xyz');
  });

  it('finds names however they are encoded', () => {
    expect(redactQueryCredentials('/x?api%5Fkey=abc&Api+Key=def')).toBe('/x?api%5Fkey=[redacted]&Api+Key=[redacted]');
    expect(redactQueryCredentials('/x?key%00=abc&api_key%=def')).toBe('/x?key%00=[redacted]&api_key%=[redacted]');
  });

  it('reads query strings alone and URLs inside other text', () => {
    expect(redactQueryCredentials('api_key=abc&limit=5')).toBe('api_key=[redacted]&limit=5');
    expect(redactQueryCredentials('?token=abc')).toBe('?token=[redacted]');
    expect(redactQueryCredentials('GET https://hooks.example/x?token=abc failed: "ECONNRESET"')).toBe('GET https://hooks.example/x?token=[redacted] failed: "ECONNRESET"');
  });

  it('leaves text without credential parameters as it is', () => {
    for (const text of ['/api/workflows?q=key&limit=5', '/api/workflows/key=1', 'monkey=1 is not a parameter', '/x?key=', '/x?key', 'plain']) {
      expect(redactQueryCredentials(text), text).toBe(text);
    }
  });
});

describe('Sentry events', () => {
  it('carry no credential from a query string: URL, query string in any form, breadcrumbs', () => {
    for (const query_string of [`api_key=${KEY}&limit=5`, { api_key: KEY, limit: '5' }, [['api_key', KEY], ['limit', '5']] as [string, string][]]) {
      const event = scrubEvent({ request: { url: `http://gw/api/executions?api_key=${KEY}&limit=5`, query_string }, message: 'boom' }, []);
      expect(JSON.stringify(event)).not.toContain('kkkk');
      expect(event.request?.url).toBe('http://gw/api/executions?api_key=[redacted]&limit=5');
      expect(event.request?.query_string).toBe('api_key=[redacted]&limit=5');
    }
    const breadcrumb = scrubValue({ category: 'http', data: { url: 'https://api.example/v1', 'http.query': '?access_token=abc123&x=1', method: 'GET' } }, []);
    expect(breadcrumb.data['http.query']).toBe('?access_token=[redacted]&x=1');
  });
});
