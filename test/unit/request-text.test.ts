import { describe, expect, it } from 'vitest';
import { bodyTextFaults, decodeComponent, invalidText, MAX_BODY_DEPTH, requestTextFaults, textFault } from '../../src/gateway/request-text';

const ROUTES = ['/api/workflows/:id', '/api/workflows/:id/versions/:version', '/api/executions/bulk/reset', '/api/executions/:id/reset'].map((r) => r.split('/'));

const request = (url: string, headers: Record<string, string | string[]> = {}) => requestTextFaults({ url, headers }, ROUTES);

describe('textFault', () => {
  it('passes any Unicode text, pairs of surrogates included', () => {
    for (const text of ['', 'plain', 'é ü ß', '日本語', '😀 and 🎉', '\uFFFD', '\t\n\r', '\u0001\u001f']) expect(textFault(text), text).toBeUndefined();
  });

  it('names the NUL character and unpaired surrogates, wherever they are', () => {
    for (const text of ['\u0000', 'a\u0000b', 'ab\u0000']) expect(textFault(text)).toBe('must not contain the NUL character (U+0000)');
    expect(textFault('\ud800')).toMatch(/unpaired surrogate \(U\+D800\)/);
    expect(textFault('a\udbffb')).toMatch(/U\+DBFF/);
    expect(textFault('\udc00')).toMatch(/U\+DC00/);
    // A low surrogate before its high one is two unpaired halves.
    expect(textFault('\ude00\ud83d')).toMatch(/U\+DE00/);
    expect(textFault('😀'.slice(0, 1))).toMatch(/U\+D83D/);
  });
});

describe('decodeComponent', () => {
  it('decodes percent-encoded UTF-8, and + as a space only in query strings', () => {
    expect(decodeComponent('caf%C3%A9')).toEqual({ text: 'café' });
    expect(decodeComponent('a+b')).toEqual({ text: 'a+b' });
    expect(decodeComponent('a+b', { plusIsSpace: true })).toEqual({ text: 'a b' });
    expect(decodeComponent('%F0%9F%98%80')).toEqual({ text: '😀' });
  });

  it('refuses encodings that are not UTF-8, and text that cannot be stored', () => {
    // An encoded surrogate (CESU-8), a cut sequence, a bad escape, an overlong NUL, a stray continuation byte.
    for (const raw of ['%ED%A0%80', '%E0%A4%A', '%ZZ', '%', '%C0%80', '%80', '%FF']) {
      expect(decodeComponent(raw), raw).toEqual({ fault: 'must be UTF-8 text, percent-encoded where needed' });
    }
    expect(decodeComponent('a%00b')).toEqual({ fault: 'must not contain the NUL character (U+0000)' });
  });
});

describe('requestTextFaults', () => {
  it('passes ordinary requests', () => {
    expect(request('/api/workflows/order-followup?q=caf%C3%A9+au+lait&limit=5', { 'idempotency-key': 'abc' })).toEqual([]);
    expect(request('/api/workflows?')).toEqual([]);
    expect(request('/api/workflows?flag&&x=')).toEqual([]);
  });

  it('names a path parameter by the route it falls in, and the path otherwise', () => {
    expect(request('/api/workflows/%00')).toEqual([{ path: '$.params.id', message: 'must not contain the NUL character (U+0000)' }]);
    expect(request('/api/workflows/x/versions/%ED%A0%80')).toEqual([{ path: '$.params.version', message: 'must be UTF-8 text, percent-encoded where needed' }]);
    expect(request('/api/executions/%E0%A4%A/reset')).toEqual([{ path: '$.params.id', message: 'must be UTF-8 text, percent-encoded where needed' }]);
    expect(request('/api/no%00such/route')).toEqual([{ path: '$.path', message: 'must not contain the NUL character (U+0000)' }]);
  });

  it('names a query parameter, never repeating its value', () => {
    expect(request('/api/workflows?q=a%00b')).toEqual([{ path: '$.query.q', message: 'must not contain the NUL character (U+0000)' }]);
    expect(request('/api/workflows?limit=5&category=%ED%A0%80')).toEqual([{ path: '$.query.category', message: 'must be UTF-8 text, percent-encoded where needed' }]);
    expect(request('/api/workflows?odd%20name=%00')).toEqual([{ path: '$.query["odd name"]', message: 'must not contain the NUL character (U+0000)' }]);
    expect(request('/api/workflows?a%00=1')).toEqual([{ path: '$.query', message: 'has a parameter name that must not contain the NUL character (U+0000)' }]);
    const [field] = request('/api/workflows?api_key=wfa_canary%00');
    expect(JSON.stringify(field)).not.toContain('canary');
  });

  it('names a header', () => {
    expect(request('/api/workflows', { 'idempotency-key': 'a\u0000b' })).toEqual([
      { path: '$.headers["idempotency-key"]', message: 'must not contain the NUL character (U+0000)' },
    ]);
    expect(request('/api/workflows', { 'x-things': ['ok', '\ud800'] })[0]?.path).toBe('$.headers["x-things"]');
  });

  it('names every bad place, and the problem names at most ten', () => {
    const fields = request('/api/workflows/%00?q=%00&category=%00');
    expect(fields.map((f) => f.path)).toEqual(['$.params.id', '$.query.q', '$.query.category']);
    const problem = invalidText(Array.from({ length: 12 }, (_, i) => ({ path: `$.query.p${i}`, message: 'must not contain the NUL character (U+0000)' })));
    expect(problem.status).toBe(400);
    expect(problem.code).toBe('invalid_text');
    expect(problem.fields).toHaveLength(10);
    expect(problem.message).toMatch(/^the request holds text that cannot be stored: \$\.query\.p0 must not contain .*; and 2 more$/);
  });
});

describe('bodyTextFaults', () => {
  it('passes ordinary bodies', () => {
    expect(bodyTextFaults({ name: 'café 😀', steps: [{ id: 'a', values: { n: 1, ok: true, none: null } }] })).toEqual({ fields: [] });
    expect(bodyTextFaults('text')).toEqual({ fields: [] });
  });

  it('names strings and keys at any depth, in the order they appear', () => {
    const body = {
      name: 'a\u0000b',
      triggerData: { ok: 'fine', 'bad\u0000key': 1, list: ['x', '\ud800'], deep: { deeper: { '\udc00': { v: '\u0000' } } } },
    };
    expect(bodyTextFaults(body)).toEqual({
      fields: [
        { path: '$.body.name', message: 'must not contain the NUL character (U+0000)' },
        { path: '$.body.triggerData["bad\\u0000key"]', message: 'is an object key that must not contain the NUL character (U+0000)' },
        { path: '$.body.triggerData.list[1]', message: 'must not contain an unpaired surrogate (U+D800): it is not Unicode text' },
        { path: '$.body.triggerData.deep.deeper["\\udc00"]', message: 'is an object key that must not contain an unpaired surrogate (U+DC00): it is not Unicode text' },
        { path: '$.body.triggerData.deep.deeper["\\udc00"].v', message: 'must not contain the NUL character (U+0000)' },
      ],
    });
  });

  it(`refuses nesting deeper than ${MAX_BODY_DEPTH} levels without recursing, however deep`, () => {
    const nested = (levels: number) => JSON.parse('['.repeat(levels) + ']'.repeat(levels)) as unknown;
    expect(bodyTextFaults(nested(MAX_BODY_DEPTH))).toEqual({ fields: [] });
    expect(bodyTextFaults({ a: nested(MAX_BODY_DEPTH - 1) })).toEqual({ fields: [] });
    expect(bodyTextFaults(nested(MAX_BODY_DEPTH + 1))).toEqual({ tooDeep: { path: '$.body', message: `is nested deeper than ${MAX_BODY_DEPTH} levels` } });
    expect(bodyTextFaults(nested(500_000))).toHaveProperty('tooDeep');
  });
});
