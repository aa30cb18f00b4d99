/**
 * The gateway's answers to good and bad requests, and its health report,
 * against the real dev server and Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

const minimal = {
  key: 'gateway-minimal',
  name: 'Minimal',
  category: 'tests',
  steps: [{ id: 'only', type: 'set', values: { x: 1 } }],
};

describe('definitions', () => {
  it('creates, reads, lists, filters and versions a definition', async () => {
    const created = await h.api('POST', '/api/workflows', minimal);
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/workflows/${created.body.id}`);
    expect(created.body).toMatchObject({ key: 'gateway-minimal', version: 1, enabled: true, category: 'tests' });

    const byKey = await h.api('GET', '/api/workflows/gateway-minimal');
    expect(byKey.status).toBe(200);
    expect(byKey.body.id).toBe(created.body.id);
    expect(byKey.body.definition.steps).toEqual(minimal.steps);

    const updated = await h.api('PUT', `/api/workflows/${created.body.id}`, { ...minimal, name: 'Minimal v2' });
    expect(updated.status).toBe(200);
    expect(updated.body.version).toBe(2);
    const read = await h.api('GET', `/api/workflows/${created.body.id}`);
    expect(read.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const v1 = await h.api('GET', `/api/workflows/${created.body.id}/versions/1`);
    expect(v1.body.definition.name).toBe('Minimal');

    const list = await h.api('GET', '/api/workflows?category=tests&q=minimal');
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(1);
    expect(list.body.items[0].name).toBe('Minimal v2');
    const none = await h.api('GET', '/api/workflows?category=nothing-here');
    expect(none.body).toMatchObject({ items: [], total: 0 });
  });

  it('refuses a duplicate key with 409 naming the field', async () => {
    await h.api('POST', '/api/workflows', { ...minimal, key: 'dup-key' });
    const again = await h.api('POST', '/api/workflows', { ...minimal, key: 'dup-key' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'definition_key_taken', errors: [{ path: '$.key' }] });
  });

  it('rejects a bad definition with 400 and every problem at its JSON path', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: 'bad',
      name: 'Bad',
      steps: [
        { id: 'a', type: 'fax' },
        { id: 'a', type: 'delay', duration: 'tomorrow' },
        { id: 'c', type: 'condition', condition: 'x =', then: [] },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('invalid_definition');
    const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(['$.steps[0].type', '$.steps[1].duration', '$.steps[1].id', '$.steps[2].condition']);
  });

  it('validates without saving', async () => {
    const ok = await h.api('POST', '/api/workflows/validate', { ...minimal, key: 'never-saved' });
    expect(ok.status).toBe(200);
    expect(ok.body.valid).toBe(true);
    expect((await h.api('GET', '/api/workflows/never-saved')).status).toBe(404);
  });
});

describe('bad requests are 4xx problems, never 500', () => {
  it.each([
    ['malformed JSON', 'POST', '/api/workflows', '{"key": ', 400, 'invalid_json'],
    ['an array body', 'POST', '/api/workflows', [], 400, 'invalid_definition'],
    ['an unknown definition', 'GET', '/api/workflows/does-not-exist', undefined, 404, 'not_found'],
    ['an unknown execution', 'GET', '/api/executions/3f1b0f8e-0000-4000-8000-000000000000', undefined, 404, 'not_found'],
    ['an unknown route', 'GET', '/api/nothing', undefined, 404, 'route_not_found'],
    ['a bad list filter', 'GET', '/api/workflows?limit=0', undefined, 400, 'validation_failed'],
    ['a bad version number', 'GET', '/api/workflows/gateway-minimal/versions/abc', undefined, 400, 'validation_failed'],
  ])('%s', async (_name, method, path, body, status, code) => {
    const res = await h.api(method, path, body);
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(res.body.requestId).toBeTruthy();
  });

  it('refuses a body that is not JSON with 415 naming what was sent, and starts nothing', async () => {
    await h.api('POST', '/api/workflows', { ...minimal, key: 'not-json' });
    for (const [type, body] of [
      ['text/plain', '{"triggerData":{}}'],
      ['application/x-www-form-urlencoded', 'triggerData=1'],
    ] as const) {
      const res = await h.api('POST', '/api/workflows/not-json/execute', body, { 'content-type': `${type}; charset=utf-8` });
      expect(res.status).toBe(415);
      expect(res.body).toMatchObject({
        code: 'unsupported_media_type',
        detail: `send the body as JSON with Content-Type: application/json (this request sent ${type})`,
      });
    }
    const rows = await h.db.selectFrom('workflow_executions').select('id').where('workflow_id', 'like', 'not-json-%').execute();
    expect(rows).toEqual([]);
    // No body at all needs no content type.
    expect((await h.api('POST', '/api/workflows/not-json/disable')).status).toBe(200);
  });

  it('says what a number in a query or path must be, once per field', async () => {
    const limit = 'must be a whole number from 1 to 200';
    for (const value of ['abc', '0', '201', '1.5', '-1.5']) {
      const res = await h.api('GET', `/api/executions?limit=${value}`);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ path: '$.query.limit', message: limit }]);
    }
    expect((await h.api('GET', '/api/workflows?offset=x')).body.errors).toEqual([{ path: '$.query.offset', message: 'must be a whole number of 0 or more' }]);
    expect((await h.api('GET', '/api/workflows/gateway-minimal/versions/0')).body.errors).toEqual([
      { path: '$.version', message: 'must be a whole number of 1 or more' },
    ]);
  });

  it('names missing, mistyped and unknown fields in plain words', async () => {
    const key = await h.api('POST', '/api/keys', { role: 'viewer', label: 'x' });
    expect(key.status).toBe(400);
    expect(key.body.errors).toEqual([
      { path: '$.body.name', message: 'is required' },
      { path: '$.body', message: 'does not take "label"' },
    ]);
    const definition = await h.api('POST', '/api/workflows', {
      key: 'plain-words',
      name: 'Plain words',
      steps: [{ id: 'mail', type: 'email', subject: 5, body: 'hi' }],
    });
    expect(definition.status).toBe(400);
    expect(definition.body.errors).toEqual(
      expect.arrayContaining([
        { path: '$.steps[0].to', message: 'is required' },
        { path: '$.steps[0].subject', message: 'must be a string, not a number' },
      ]),
    );
  });

  it('answers an oversized body with 413', async () => {
    const res = await h.api('POST', '/api/workflows', { ...minimal, description: 'x'.repeat(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
  });

  it('rejects trigger data that is not an object, naming the field', async () => {
    await h.api('POST', '/api/workflows', { ...minimal, key: 'trigger-shape' });
    for (const triggerData of [[1, 2], 'text', 42]) {
      const res = await h.api('POST', '/api/workflows/trigger-shape/execute', { triggerData });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].path).toBe('$.body.triggerData');
    }
    const extra = await h.api('POST', '/api/workflows/trigger-shape/execute', { triggerData: {}, surprise: true });
    expect(extra.status).toBe(400);
  });

  it('rejects trigger data nested deeper than 32 levels, naming the field', async () => {
    await h.api('POST', '/api/workflows', { ...minimal, key: 'trigger-depth' });
    const nested = (levels: number) => {
      let value: unknown = {};
      for (let i = 1; i < levels; i++) value = { next: value };
      return value;
    };
    const deep = await h.api('POST', '/api/workflows/trigger-depth/execute', { triggerData: nested(33) });
    expect(deep.status).toBe(400);
    expect(deep.body.errors).toEqual([{ path: '$.body.triggerData', message: 'is nested deeper than 32 levels' }]);
    const deepest = await h.api('POST', '/api/workflows/trigger-depth/execute', { triggerData: nested(32) });
    expect(deepest.status).toBe(202);
  });

  it('refuses to start a disabled definition with 409', async () => {
    await h.api('POST', '/api/workflows', { ...minimal, key: 'disabled-one', enabled: false });
    const res = await h.api('POST', '/api/workflows/disabled-one/execute', { triggerData: {} });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('definition_disabled');
  });
});

describe('health', () => {
  it('reports each dependency, and 503 naming the missing worker when none polls', async () => {
    const healthy = await h.api('GET', '/api/health/workflows');
    expect(healthy.status).toBe(200);
    expect(healthy.body.checks.postgres.status).toBe('up');
    expect(healthy.body.checks.temporal.status).toBe('up');
    expect(healthy.body.checks.worker.status).toBe('up');

    const lonely = await createHarness({ worker: false });
    try {
      const res = await lonely.api('GET', '/api/health/workflows');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('unhealthy');
      expect(res.body.checks.postgres.status).toBe('up');
      expect(res.body.checks.temporal.status).toBe('up');
      expect(res.body.checks.worker).toMatchObject({ status: 'down', detail: expect.stringMatching(/no worker is polling/) });
    } finally {
      await lonely.close();
    }
  });
});
