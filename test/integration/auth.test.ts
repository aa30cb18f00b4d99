/**
 * API keys and roles on every route, the rate limit, CORS, and that keys
 * reach neither the database nor the logs in plaintext.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_PATTERN, createApiKey, generateApiKey, hashApiKey, revokeApiKey, touchLastUsed } from '../../db/api-keys';
import type { ApiKeyRole } from '../../db/schema';
import { signStandardWebhook } from '../../src/gateway/webhook-signature';
import { REDACT_PATHS } from '../../src/logger';
import { createHarness, eventually, type Harness } from '../support/harness';
import { productCommand } from '../support/processes';
import { runTimeout } from '../support/timeouts';

const ALLOWED_ORIGIN = 'https://console.example.test';
const WEBHOOK_SECRET = 'whsec_YXV0aC1tYXRyaXgtd2ViaG9vay1zZWNyZXQta2V5';

/** Every line the gateway logs, as written. */
const logLines: string[] = [];
const logger = pino(
  { level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

let h: Harness;
/** Every plaintext key this file has seen, to look for afterwards. */
const plaintexts: string[] = [];
const keys = {} as Record<ApiKeyRole | 'revoked', string>;

async function newKey(role: ApiKeyRole, name = `${role} key`): Promise<{ id: string; key: string }> {
  const { record, key } = await createApiKey(h.db, { name, role });
  plaintexts.push(key);
  return { id: record.id, key };
}

const teamsConnection = (name: string) => ({ name, type: 'teams', secrets: { webhookUrl: 'https://teams.example.test/workflows/matrix' } });

const minimal = {
  key: 'auth-matrix',
  name: 'Auth matrix',
  category: 'tests',
  steps: [{ id: 'only', type: 'set', values: { x: 1 } }],
};
let executionId: string;

beforeAll(async () => {
  h = await createHarness({
    env: {
      CORS_ORIGINS: `${ALLOWED_ORIGIN}, https://other-console.example.test`,
      WEBHOOK_SIGNATURE_SECRET: WEBHOOK_SECRET,
      CONNECTION_KEYS: `matrix:${Buffer.alloc(32, 7).toString('base64')}`,
    },
    logger,
  });
  plaintexts.push(h.adminKey);
  for (const role of ['viewer', 'operator', 'admin'] as const) keys[role] = (await newKey(role)).key;
  const revoked = await newKey('admin', 'revoked admin');
  await revokeApiKey(h.db, revoked.id);
  keys.revoked = revoked.key;

  expect((await h.api('POST', '/api/workflows', minimal)).status).toBe(201);
  expect((await h.api('POST', '/api/connections', teamsConnection('matrix-teams'))).status).toBe(201);
  expect((await h.api('POST', '/api/workflows', { ...minimal, key: 'auth-matrix-hook', trigger: { type: 'webhook' } })).status).toBe(201);
  // Switched on and off by the matrix, apart from the definition the matrix starts.
  expect((await h.api('POST', '/api/workflows', { ...minimal, key: 'auth-matrix-switch' })).status).toBe(201);
  const started = await h.api('POST', '/api/workflows/auth-matrix/execute', { triggerData: {} });
  expect(started.status).toBe(202);
  executionId = started.body.executionId;
  await h.client.workflow.getHandle(started.body.workflowId).result();
});

afterAll(async () => {
  await h?.close();
});

// --- the matrix ---------------------------------------------------------------------------------

const CALLERS = ['no key', 'malformed header', 'unknown key', 'revoked key', 'viewer', 'operator', 'admin'] as const;
type Caller = (typeof CALLERS)[number];

function headersOf(caller: Caller): Record<string, string> {
  switch (caller) {
    case 'no key':
      return {};
    case 'malformed header':
      return { authorization: 'Basic dXNlcjpwYXNz' };
    case 'unknown key':
      return { authorization: `Bearer ${generateApiKey()}` };
    case 'revoked key':
      return { authorization: `Bearer ${keys.revoked}` };
    case 'viewer':
      // One role through the other header, so both are exercised on every route.
      return { 'x-api-key': keys.viewer };
    default:
      return { authorization: `Bearer ${keys[caller]}` };
  }
}

let serial = 0;
interface Call {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A webhook delivery, signed: hooks take no API key, whatever the caller sends. */
function signedHook(): Call {
  const body = JSON.stringify({ n: ++serial });
  return { method: 'POST', path: '/api/hooks/auth-matrix-hook', body, headers: signStandardWebhook(WEBHOOK_SECRET, `evt_${randomUUID()}`, body) };
}

/** Each route, a request that succeeds for a caller allowed to make it, and the status per caller. */
const ROUTES: [name: string, request: () => Promise<Call> | Call, statuses: Record<Caller, number>][] = [];
const open = (ok: number) => Object.fromEntries(CALLERS.map((c) => [c, ok])) as Record<Caller, number>;
const needs = (role: ApiKeyRole, ok: number): Record<Caller, number> => ({
  'no key': 401,
  'malformed header': 401,
  'unknown key': 401,
  'revoked key': 401,
  viewer: role === 'viewer' ? ok : 403,
  operator: role === 'admin' ? 403 : ok,
  admin: ok,
});

ROUTES.push(
  ['GET /api/health/workflows', () => ({ method: 'GET', path: '/api/health/workflows' }), open(200)],
  ['GET /livez', () => ({ method: 'GET', path: '/livez' }), open(200)],
  ['GET /readyz', () => ({ method: 'GET', path: '/readyz' }), open(200)],
  // Open unless METRICS_REQUIRE_KEY (observability.test.ts covers that case).
  ['GET /metrics', () => ({ method: 'GET', path: '/metrics' }), open(200)],
  ['GET /api/openapi.json', () => ({ method: 'GET', path: '/api/openapi.json' }), open(200)],
  ['GET /api/docs', () => ({ method: 'GET', path: '/api/docs' }), open(200)],
  ['POST /api/hooks/:key', signedHook, open(202)],
  ['GET /api/executions', () => ({ method: 'GET', path: '/api/executions?limit=5' }), needs('viewer', 200)],
  ['GET /api/executions/:id/logs', () => ({ method: 'GET', path: `/api/executions/${executionId}/logs` }), needs('viewer', 200)],
  ['GET /api/executions/:id/history', () => ({ method: 'GET', path: `/api/executions/${executionId}/history` }), needs('viewer', 200)],
  ['GET /api/executions/:id/deliveries', () => ({ method: 'GET', path: `/api/executions/${executionId}/deliveries` }), needs('viewer', 200)],
  ['GET /api/workflows', () => ({ method: 'GET', path: '/api/workflows' }), needs('viewer', 200)],
  ['GET /api/workflows/:id', () => ({ method: 'GET', path: '/api/workflows/auth-matrix' }), needs('viewer', 200)],
  [
    'GET /api/workflows/:id/versions/:version',
    () => ({ method: 'GET', path: '/api/workflows/auth-matrix/versions/1' }),
    needs('viewer', 200),
  ],
  ['GET /api/executions/:id', () => ({ method: 'GET', path: `/api/executions/${executionId}` }), needs('viewer', 200)],
  // The matrix run has finished, so callers allowed through get the 409 of a closed run.
  [
    'POST /api/executions/:id/signal',
    () => ({ method: 'POST', path: `/api/executions/${executionId}/signal`, body: { signal: 'approval' } }),
    needs('operator', 409),
  ],
  ['POST /api/executions/:id/cancel', () => ({ method: 'POST', path: `/api/executions/${executionId}/cancel` }), needs('operator', 409)],
  [
    'POST /api/executions/:id/terminate',
    () => ({ method: 'POST', path: `/api/executions/${executionId}/terminate`, body: { reason: 'matrix' } }),
    needs('admin', 409),
  ],
  // The matrix run succeeded: an admin may replay it, and may not reset it.
  [
    'POST /api/executions/:id/replay',
    () => ({ method: 'POST', path: `/api/executions/${executionId}/replay`, body: { reason: 'matrix' } }),
    needs('admin', 202),
  ],
  // The matrix definition has one version: callers allowed through get the 404 of the missing one.
  [
    'POST /api/workflows/:id/migrate',
    () => ({ method: 'POST', path: '/api/workflows/auth-matrix/migrate', body: { fromVersion: 1, toVersion: 99, dryRun: true } }),
    needs('admin', 404),
  ],
  [
    'POST /api/executions/bulk/reset',
    () => ({ method: 'POST', path: '/api/executions/bulk/reset', body: { filter: { definition: 'auth-matrix' }, reason: 'matrix', dryRun: true } }),
    needs('admin', 200),
  ],
  [
    'POST /api/executions/bulk/replay',
    () => ({ method: 'POST', path: '/api/executions/bulk/replay', body: { filter: { definition: 'auth-matrix' }, reason: 'matrix', dryRun: true } }),
    needs('admin', 200),
  ],
  ['GET /api/session', () => ({ method: 'GET', path: '/api/session' }), needs('viewer', 200)],
  ['POST /api/codec/decode', () => ({ method: 'POST', path: '/api/codec/decode', body: { payloads: [] } }), needs('viewer', 200)],
  ['POST /api/codec/encode', () => ({ method: 'POST', path: '/api/codec/encode', body: { payloads: [] } }), needs('operator', 200)],
  ['GET /api/approvals', () => ({ method: 'GET', path: '/api/approvals?mine=true' }), needs('viewer', 200)],
  // The dev outbox names recipients: operators and up.
  ['GET /api/outbox', () => ({ method: 'GET', path: '/api/outbox' }), needs('operator', 200)],
  ['GET /api/reports/summary', () => ({ method: 'GET', path: '/api/reports/summary' }), needs('viewer', 200)],
  ['GET /api/reports/daily', () => ({ method: 'GET', path: '/api/reports/daily?definition=auth-matrix' }), needs('viewer', 200)],
  ['GET /api/reports/steps', () => ({ method: 'GET', path: '/api/reports/steps' }), needs('viewer', 200)],
  ['GET /api/reports/deliveries', () => ({ method: 'GET', path: '/api/reports/deliveries' }), needs('viewer', 200)],
  ['GET /api/batches', () => ({ method: 'GET', path: '/api/batches' }), needs('viewer', 200)],
  // No such batch: callers allowed through get its 404.
  ['GET /api/batches/:id', () => ({ method: 'GET', path: `/api/batches/${randomUUID()}` }), needs('viewer', 404)],
  [
    'POST /api/batches/:id/cancel',
    () => ({ method: 'POST', path: `/api/batches/${randomUUID()}/cancel`, body: { reason: 'matrix' } }),
    needs('admin', 404),
  ],
  ['GET /api/audit', () => ({ method: 'GET', path: '/api/audit' }), needs('admin', 200)],
  [
    'POST /api/executions/:id/reset',
    () => ({ method: 'POST', path: `/api/executions/${executionId}/reset`, body: { reason: 'matrix' } }),
    needs('admin', 409),
  ],
  [
    'POST /api/executions/:id/approvals',
    () => ({ method: 'POST', path: `/api/executions/${executionId}/approvals`, body: { step: 'review', decision: 'approve' } }),
    needs('operator', 409),
  ],
  [
    'POST /api/workflows/:id/execute',
    () => ({ method: 'POST', path: '/api/workflows/auth-matrix/execute', body: { triggerData: { n: ++serial } } }),
    needs('operator', 202),
  ],
  [
    'POST /api/workflows',
    () => ({ method: 'POST', path: '/api/workflows', body: { ...minimal, key: `auth-matrix-${++serial}` } }),
    needs('admin', 201),
  ],
  ['POST /api/workflows/validate', () => ({ method: 'POST', path: '/api/workflows/validate', body: minimal }), needs('admin', 200)],
  [
    'PUT /api/workflows/:id',
    () => ({ method: 'PUT', path: '/api/workflows/auth-matrix', body: { ...minimal, name: `Auth matrix ${++serial}` } }),
    needs('admin', 200),
  ],
  [
    'DELETE /api/workflows/:id',
    async () => {
      const key = `auth-matrix-doomed-${++serial}`;
      expect((await h.api('POST', '/api/workflows', { ...minimal, key })).status).toBe(201);
      return { method: 'DELETE', path: `/api/workflows/${key}` };
    },
    needs('admin', 200),
  ],
  ['POST /api/workflows/:id/enable', () => ({ method: 'POST', path: '/api/workflows/auth-matrix-switch/enable' }), needs('admin', 200)],
  ['POST /api/workflows/:id/disable', () => ({ method: 'POST', path: '/api/workflows/auth-matrix-switch/disable' }), needs('admin', 200)],
  ['POST /api/keys', () => ({ method: 'POST', path: '/api/keys', body: { name: `made ${++serial}`, role: 'viewer' } }), needs('admin', 201)],
  ['GET /api/keys', () => ({ method: 'GET', path: '/api/keys' }), needs('admin', 200)],
  [
    'DELETE /api/keys/:id',
    async () => ({ method: 'DELETE', path: `/api/keys/${(await newKey('viewer', `doomed ${++serial}`)).id}` }),
    needs('admin', 204),
  ],
  ['GET /api/connection-types', () => ({ method: 'GET', path: '/api/connection-types' }), needs('viewer', 200)],
  ['GET /api/connections', () => ({ method: 'GET', path: '/api/connections' }), needs('viewer', 200)],
  ['GET /api/connections/:name', () => ({ method: 'GET', path: '/api/connections/matrix-teams' }), needs('viewer', 200)],
  ['POST /api/connections', () => ({ method: 'POST', path: '/api/connections', body: teamsConnection(`made-${++serial}`) }), needs('admin', 201)],
  [
    'PUT /api/connections/:name',
    () => ({ method: 'PUT', path: '/api/connections/matrix-teams', body: { secrets: { webhookUrl: `https://teams.example.test/workflows/${++serial}` } } }),
    needs('admin', 200),
  ],
  [
    'DELETE /api/connections/:name',
    async () => {
      const name = `doomed-${++serial}`;
      expect((await h.api('POST', '/api/connections', teamsConnection(name))).status).toBe(201);
      return { method: 'DELETE', path: `/api/connections/${name}` };
    },
    needs('admin', 204),
  ],
  // A Teams webhook cannot be checked without posting: callers allowed through get that answer.
  ['POST /api/connections/:name/test', () => ({ method: 'POST', path: '/api/connections/matrix-teams/test' }), needs('admin', 200)],
  ['GET /api/deployments', () => ({ method: 'GET', path: '/api/deployments' }), needs('admin', 200)],
);

describe.each(ROUTES)('%s', (_route, request, statuses) => {
  it.each(CALLERS)('with %s', async (caller) => {
    const call = await request();
    const res = await h.api(call.method, call.path, call.body, { ...call.headers, ...headersOf(caller) }, { key: null });
    if (API_KEY_PATTERN.test(String(res.body?.key))) plaintexts.push(res.body.key);
    expect(res.status, JSON.stringify(res.body)).toBe(statuses[caller]);
    if (res.status === 401) {
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(res.body.code).toBe('unauthenticated');
    }
    if (res.status === 403) {
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('forbidden');
    }
  });
});

it('covers every route the gateway declares', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = resolve('src/gateway/routes');
  const declared: string[] = [];
  for (const file of await readdir(dir)) {
    const text = await readFile(resolve(dir, file), 'utf8');
    for (const m of text.matchAll(/serve\(\s*'((?:GET|POST|PUT|DELETE|PATCH) [^']+)'/g)) declared.push(m[1]!);
  }
  expect(ROUTES.map(([name]) => name).sort()).toEqual(declared.sort());
});

it('names in the API document the role each route needs', async () => {
  const doc = (await h.api('GET', '/api/openapi.json', undefined, {}, { key: null })).body;
  for (const [name, , statuses] of ROUTES) {
    const [method, path] = name.split(' ') as [string, string];
    const operation = doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
    // The lowest role let through, or null when no key is needed.
    const role = statuses['no key'] !== 401 ? null : (['viewer', 'operator', 'admin'] as const).find((r) => statuses[r] !== 403);
    expect(operation?.['x-api-key-role'], name).toBe(role);
  }
});

// --- messages -----------------------------------------------------------------------------------

describe('401 and 403 say what is wrong', () => {
  it.each([
    ['no key', {}, /an API key is required/, 'Bearer realm="workflow-automation"'],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }, /Authorization header is malformed/, 'error="invalid_request"'],
    ['a bearer without a key', { authorization: 'Bearer ' }, /Authorization header is malformed/, 'error="invalid_request"'],
    ['something that is not a key', { 'x-api-key': 'letmein' }, /API key is malformed/, 'error="invalid_request"'],
    ['an unknown key', { authorization: `Bearer ${generateApiKey()}` }, /unknown or has been revoked/, 'error="invalid_token"'],
    ['a revoked key', { 'x-api-key': 'REVOKED' }, /unknown or has been revoked/, 'error="invalid_token"'],
  ])('%s', async (_name, headers: Record<string, string>, message, challenge) => {
    const sent = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === 'REVOKED' ? keys.revoked : v]));
    const res = await h.api('GET', '/api/workflows', undefined, sent, { key: null });
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(message);
    expect(res.headers.get('www-authenticate')).toContain(challenge);
    expect(res.body.requestId).toBeTruthy();
  });

  it('names the role a route needs and the one the key has', async () => {
    const viewer = await h.api('POST', '/api/workflows/auth-matrix/execute', { triggerData: {} }, {}, { key: keys.viewer });
    expect(viewer.status).toBe(403);
    expect(viewer.body.detail).toBe('this request needs the operator role or higher; the API key "viewer key" has the viewer role');
    const operator = await h.api('POST', '/api/keys', { name: 'x', role: 'admin' }, {}, { key: keys.operator });
    expect(operator.status).toBe(403);
    expect(operator.body.detail).toMatch(/needs the admin role/);
  });

  it('checks the key before the route looks anything up', async () => {
    const res = await h.api('GET', '/api/workflows/no-such-definition', undefined, {}, { key: null });
    expect(res.status).toBe(401);
  });
});

// --- key management -----------------------------------------------------------------------------

describe('key routes', () => {
  it('create a key shown once, list keys without secrets, and revoke a key at once', async () => {
    const created = await h.api('POST', '/api/keys', { name: '  reporting  ', role: 'viewer' });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { key, id } = created.body;
    plaintexts.push(key);
    expect(key).toMatch(API_KEY_PATTERN);
    expect(created.body).toMatchObject({ name: 'reporting', role: 'viewer', prefix: key.slice(0, 8), lastUsedAt: null, revokedAt: null });

    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(200);

    const list = await h.api('GET', '/api/keys');
    expect(list.status).toBe(200);
    const listed = list.body.items.find((k: { id: string }) => k.id === id);
    expect(Object.keys(listed).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'role']);
    expect(JSON.stringify(list.body)).not.toContain(key);
    expect(JSON.stringify(list.body)).not.toContain(hashApiKey(key));

    expect((await h.api('DELETE', `/api/keys/${id}`)).status).toBe(204);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(401);
    const after = await h.api('GET', '/api/keys');
    expect(after.body.items.find((k: { id: string }) => k.id === id).revokedAt).toBeTruthy();
    expect((await h.api('DELETE', `/api/keys/${id}`)).status).toBe(204);
  });

  it('answer 404 for a key that does not exist and 400 for a bad body', async () => {
    expect((await h.api('DELETE', '/api/keys/3f1b0f8e-0000-4000-8000-000000000000')).body.code).toBe('not_found');
    expect((await h.api('DELETE', '/api/keys/not-a-uuid')).status).toBe(404);
    const bad = await h.api('POST', '/api/keys', { name: '', role: 'root', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['$.body', '$.body.name', '$.body.role']);
  });

  it('record when a key was last used, at most once a minute', async () => {
    const { id, key } = await newKey('viewer', 'usage');
    const lastUsed = () =>
      h.db.selectFrom('api_keys').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow().then((r) => r.last_used_at);
    expect(await lastUsed()).toBeNull();
    await h.api('GET', '/api/workflows', undefined, {}, { key });
    const first = await eventually(async () => (await lastUsed()) ?? undefined, undefined, 'last_used_at');
    await h.api('GET', '/api/workflows', undefined, {}, { key });
    // The gateway (on this database handle) holds the key as touched within the minute: another use writes nothing,
    // and a write that got past it would change nothing either (the update's own condition).
    expect(await touchLastUsed(h.db, id)).toBe(false);
    expect(await lastUsed()).toEqual(first);
  });

  it('are managed from the command line', async () => {
    const run = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, productCommand('src/cli/keys.ts', ...args), {
          env: { ...process.env, DATABASE_URL: h.databaseUrl, LOG_LEVEL: 'silent' },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => done({ code, stdout, stderr }));
      });

    const usages = [[], ['create', '--role', 'root', '--name', 'x'], ['create', '--role', 'admin'], ['revoke'], ['rotate'], ['list', '--force']];
    for (const [args, bad] of await Promise.all(usages.map(async (args) => [args, await run(...args)] as const))) {
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(/^usage: npm run keys -- create --role <viewer\|operator\|admin> --name <name> \| list \| revoke <id>$/m);
    }

    const created = await run('create', '--role', 'operator', '--name', 'from the cli');
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    plaintexts.push(key);
    expect(key).toMatch(API_KEY_PATTERN);
    expect(created.stderr).toMatch(/not shown again/);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(200);
    expect((await h.api('POST', '/api/workflows/validate', minimal, {}, { key })).status).toBe(403);

    const listed = await run('list');
    expect(listed.code).toBe(0);
    const line = listed.stdout.split('\n').find((l) => l.includes('from the cli'));
    expect(line).toContain('operator');
    expect(listed.stdout).not.toContain(key);
    const id = line!.split(/\s+/)[0]!;

    const revoked = await run('revoke', id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(401);
    expect((await run('revoke', '3f1b0f8e-0000-4000-8000-000000000000')).code).toBe(1);
  }, runTimeout({ extra: '15s' }));
});

// --- hygiene ------------------------------------------------------------------------------------

describe('CORS and headers', () => {
  it('answers an allowed origin, and no other', async () => {
    const allowed = await h.api('GET', '/api/workflows', undefined, { origin: ALLOWED_ORIGIN });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/);
    const other = await h.api('GET', '/api/workflows', undefined, { origin: 'https://evil.example.test' });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a preflight without a key', async () => {
    const res = await fetch(`${h.baseUrl}/api/workflows/auth-matrix/execute`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
  });

  it('sets the usual security headers', async () => {
    const res = await h.api('GET', '/api/workflows');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBeTruthy();
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('rate limit', () => {
  let limited: Harness;
  beforeAll(async () => {
    limited = await createHarness({ env: { RATE_LIMIT_PER_MINUTE: '5' }, worker: false });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('allows 5 requests a minute per key, then answers 429 with Retry-After', async () => {
    const { key } = await createApiKey(limited.db, { name: 'limited viewer', role: 'viewer' });
    plaintexts.push(key);
    for (let i = 1; i <= 5; i++) {
      const res = await limited.api('GET', '/api/workflows', undefined, {}, { key });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=60');
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`^limit=5, remaining=${5 - i}, reset=\\d+$`));
    }
    const refused = await limited.api('GET', '/api/workflows', undefined, {}, { key });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.code).toBe('rate_limited');
    expect(refused.body.detail).toMatch(/at most 5 a minute per API key/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);

    // Another key has its own allowance.
    expect((await limited.api('GET', '/api/workflows')).status).toBe(200);
  });

  it('counts requests without a valid key per address, and never limits the health check', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await limited.api('GET', '/api/workflows', undefined, { authorization: `Bearer ${generateApiKey()}` }, { key: null })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    for (let i = 0; i < 8; i++) {
      const res = await limited.api('GET', '/api/health/workflows', undefined, {}, { key: null });
      expect(res.status).toBe(503); // no worker here, but never 429
    }
  });

  it('sends no CORS headers when no origin is configured', async () => {
    const res = await limited.api('GET', '/api/health/workflows', undefined, { origin: ALLOWED_ORIGIN });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

// --- secrets ------------------------------------------------------------------------------------

describe('keys in plaintext', () => {
  it('are stored nowhere: only their hashes', async () => {
    expect(plaintexts.length).toBeGreaterThan(10);
    const tables = await sql<{ name: string }>`
      select table_name as name from information_schema.tables where table_schema = 'public'`.execute(h.db);
    expect(tables.rows.map((t) => t.name)).toContain('api_keys');
    for (const { name } of tables.rows) {
      const rows = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(name)} t`.execute(h.db);
      const text = rows.rows.map((r) => r.row).join('\n');
      for (const key of plaintexts) expect(text, `table ${name}`).not.toContain(key.slice(4));
    }
    const stored = await h.db.selectFrom('api_keys').select(['key_hash', 'prefix']).execute();
    expect(stored.map((r) => r.key_hash)).toContain(hashApiKey(keys.viewer));
    expect(stored.every((r) => r.prefix.length === 8)).toBe(true);
  });

  it('are not logged, and requests are logged under their request id', async () => {
    await h.api('GET', '/api/workflows', undefined, { 'x-request-id': 'auth-log-check', 'x-api-key': keys.admin }, { key: null });
    const line = await eventually(
      async () => logLines.map((l) => JSON.parse(l)).find((l) => l.req?.id === 'auth-log-check' && l.res),
      undefined,
      'the request log line',
    );
    expect(line.req.headers['x-api-key']).toBe('[redacted]');
    expect(line.res.statusCode).toBe(200);
    expect(line.apiKeyName).toBe('admin key');

    const all = logLines.join('');
    expect(all).toContain('[redacted]');
    for (const key of plaintexts) expect(all).not.toContain(key.slice(4));
  });
});
