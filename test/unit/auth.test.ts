import { describe, expect, it } from 'vitest';
import { API_KEY_PATTERN, generateApiKey, hashApiKey, SHOWN_PREFIX_LENGTH } from '../../db/api-keys';
import { readCredentials } from '../../src/gateway/auth';
import { nestingDepthExceeds } from '../../src/gateway/validate';

const key = generateApiKey();

describe('API keys', () => {
  it('are wfa_ and 32 random bytes in base64url, hashed with SHA-256', () => {
    expect(key).toMatch(API_KEY_PATTERN);
    expect(key).toHaveLength(47);
    expect(generateApiKey()).not.toBe(key);
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).not.toContain(key.slice(SHOWN_PREFIX_LENGTH));
  });
});

describe('readCredentials', () => {
  it('reads a bearer token or an X-API-Key header', () => {
    expect(readCredentials({ authorization: `Bearer ${key}` })).toEqual({ kind: 'key', key });
    expect(readCredentials({ authorization: `bearer   ${key} ` })).toEqual({ kind: 'key', key });
    expect(readCredentials({ 'x-api-key': key })).toEqual({ kind: 'key', key });
    expect(readCredentials({ 'x-api-key': ` ${key} ` })).toEqual({ kind: 'key', key });
    expect(readCredentials({ authorization: `Bearer ${key}`, 'x-api-key': key })).toEqual({ kind: 'key', key });
  });

  it('reports a missing key', () => {
    expect(readCredentials({})).toEqual({ kind: 'none' });
  });

  it.each([
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }, /Authorization header is malformed/],
    ['a scheme without a key', { authorization: 'Bearer' }, /Authorization header is malformed/],
    ['a bare key in Authorization', { authorization: key }, /Authorization header is malformed/],
    ['two tokens', { authorization: `Bearer ${key} ${key}` }, /Authorization header is malformed/],
    ['an empty X-API-Key', { 'x-api-key': '  ' }, /X-API-Key header is empty/],
    ['two different keys', { authorization: `Bearer ${key}`, 'x-api-key': generateApiKey() }, /different keys/],
    ['a token that is not a key', { authorization: 'Bearer abc.def.ghi' }, /API key is malformed/],
    ['a key cut short', { 'x-api-key': key.slice(0, -1) }, /API key is malformed/],
    ['a key with a foreign prefix', { 'x-api-key': `sk_${key.slice(4)}` }, /API key is malformed/],
    ['the header repeated', { 'x-api-key': [key, key] }, /API key is malformed/],
  ])('rejects %s as malformed', (_name, headers, message) => {
    const result = readCredentials(headers);
    expect(result.kind).toBe('malformed');
    expect(result.kind === 'malformed' && result.message).toMatch(message);
    // The message never echoes what was sent.
    expect(result.kind === 'malformed' && result.message).not.toContain(key.slice(4, 20));
  });
});

describe('nestingDepthExceeds', () => {
  const nested = (levels: number): unknown => {
    let value: unknown = {};
    for (let i = 1; i < levels; i++) value = i % 2 ? [value] : { next: value };
    return value;
  };

  it('counts objects and arrays, the outermost as level 1', () => {
    expect(nestingDepthExceeds({}, 1)).toBe(false);
    expect(nestingDepthExceeds({ a: 1, b: 'x', c: null }, 1)).toBe(false);
    expect(nestingDepthExceeds({ a: {} }, 1)).toBe(true);
    expect(nestingDepthExceeds(nested(32), 32)).toBe(false);
    expect(nestingDepthExceeds(nested(33), 32)).toBe(true);
    expect(nestingDepthExceeds({ shallow: 1, deep: nested(32) }, 32)).toBe(true);
    expect(nestingDepthExceeds('text', 0)).toBe(false);
  });

  it('stops early on very deep input', () => {
    expect(nestingDepthExceeds(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)), 32)).toBe(true);
  });
});
