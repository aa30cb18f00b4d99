/**
 * The API reference as served: `GET /api/openapi.json` and the `/api/docs`
 * page with its assets, open and offline; and the document held to what the
 * routes do. Every operation is called and its answer checked against the
 * documented status and schema; every request body built from the
 * documented schema's required fields is accepted, and refused without any
 * one of them; query and path parameters the schema refuses, the route
 * refuses too.
 */
import { randomUUID } from 'node:crypto';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { buildOpenApiDocument, type OpenApiDocument } from '../../src/gateway/openapi';
import { DOCS_CSP_DIRECTIVES } from '../../src/gateway/routes/docs';
import { signStandardWebhook } from '../../src/gateway/webhook-signature';
import { createHarness, type ApiResponse, type Harness } from '../support/harness';

const WEBHOOK_SECRET = 'whsec_YXBpLWRvY3Mtd2ViaG9vay1zZWNyZXQta2V5LTAwMDE=';
const doc = JSON.parse(JSON.stringify(buildOpenApiDocument())) as OpenApiDocument;

let h: Harness;
let executionId: string;
let workflowId: string;

beforeAll(async () => {
  h = await createHarness({ env: { WEBHOOK_SIGNATURE_SECRET: WEBHOOK_SECRET, CONNECTION_KEYS: `docs:${Buffer.alloc(32, 3).toString('base64')}` } });
  expect((await h.api('POST', '/api/connections', docsConnection('docs-teams'))).status).toBe(201);
  const base = { name: 'Docs', category: 'tests', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] };
  expect((await h.api('POST', '/api/workflows', { ...base, key: 'docs-def' })).status).toBe(201);
  expect((await h.api('POST', '/api/workflows', { ...base, key: 'docs-run' })).status).toBe(201);
  expect((await h.api('POST', '/api/workflows', { ...base, key: 'docs-hook', trigger: { type: 'webhook' } })).status).toBe(201);
  const started = await h.api('POST', '/api/workflows/docs-def/execute', { triggerData: {} });
  expect(started.status).toBe(202);
  executionId = started.body.executionId;
  workflowId = started.body.workflowId;
  await h.client.workflow.getHandle(started.body.workflowId).result();
});

afterAll(async () => {
  await h?.close();
});

// --- checking answers against the document -------------------------------------------------------

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ $id: 'doc', components: doc.components });

/** A schema of the document, its local references pointed at the document. */
function compile(schema: unknown): ValidateFunction {
  const rebased = JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/'));
  return ajv.compile(rebased);
}

function resolveRef(schema: any): any {
  let s = schema;
  while (s?.$ref) {
    s = s.$ref
      .slice(2)
      .split('/')
      .reduce((node: any, part: string) => node[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return s;
}

/** The operation a request path falls under: the template with fewest parameters that matches. */
function operationOf(method: string, path: string): { template: string; op: any } {
  const bare = path.split('?')[0]!;
  const candidates = Object.entries(doc.paths)
    .filter(([template, item]) => item[method.toLowerCase()] && new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare))
    .sort(([a], [b]) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  const found = candidates[0];
  if (!found) throw new Error(`the document has no operation for ${method} ${bare}`);
  return { template: found[0], op: found[1][method.toLowerCase()] };
}

/** Calls the gateway and checks that the status is documented and the answer has the documented shape. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, key?: string | null): Promise<ApiResponse> {
  const res = await h.api(method, path, body, headers, key === undefined ? {} : { key });
  const { template, op } = operationOf(method, path);
  const documented = op.responses[String(res.status)];
  expect(documented, `${method} ${template} answered ${res.status}, which the document does not list: ${JSON.stringify(res.body)}`).toBeDefined();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
  if (!documented.content) {
    expect(res.body, `${method} ${template} ${res.status} has no body`).toBeUndefined();
    return res;
  }
  expect(Object.keys(documented.content), `${method} ${template} ${res.status} content type`).toContain(type);
  const schema = documented.content[type].schema;
  if (type.endsWith('json')) {
    const validate = compile(schema);
    expect(validate(res.body), `${method} ${template} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body).slice(0, 500)}`).toBe(true);
  }
  return res;
}

/** The smallest value the schema allows: required fields only, lower bounds, first choices. */
function minimal(schema: any): unknown {
  const s = resolveRef(schema);
  if ('const' in s) return s.const;
  if (s.enum) return s.enum[0];
  if (s.default !== undefined && s.type !== 'object' && s.type !== 'array') return s.default;
  // Of several choices, the simplest: no rules beyond the schema, fewest required fields.
  const choices: any[] | undefined = s.oneOf ?? s.anyOf;
  if (choices) {
    const simplest = choices
      .map((choice) => resolveRef(choice))
      .filter((choice) => !choice['x-rules'])
      .sort((a, b) => (a.required?.length ?? 0) - (b.required?.length ?? 0))[0];
    return minimal(simplest ?? choices[0]);
  }
  switch (s.type) {
    case 'object':
      return Object.fromEntries((s.required ?? []).map((name: string) => [name, minimal(s.properties[name])]));
    case 'array':
      return Array.from({ length: s.minItems ?? 0 }, () => minimal(s.items));
    case 'integer':
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 0);
    case 'boolean':
      return true;
    case 'string': {
      if (s.format === 'date-time') return '2026-11-25T09:00:00Z';
      const text = 'x'.repeat(Math.max(1, s.minLength ?? 1));
      if (s.pattern && !new RegExp(s.pattern).test(text)) throw new Error(`no value for the pattern ${s.pattern}: add an example`);
      return text;
    }
    default:
      return {};
  }
}

// --- what each operation is called with --------------------------------------------------------

interface Fixture {
  path: () => string | Promise<string>;
  /** Statuses meaning the request got past validation. */
  accepted: number[];
  /** Headers for a body as sent (the webhook signs it). */
  headers?: (raw: string) => Record<string, string>;
}

const docsConnection = (name: string) => ({ name, type: 'teams', secrets: { webhookUrl: 'https://teams.example.test/workflows/docs' } });

const signed = (raw: string) => signStandardWebhook(WEBHOOK_SECRET, `evt_${randomUUID()}`, raw);
let serial = 0;

/** Every operation, a request that reaches it; a closed run answers 409 to what needs an open one. */
const FIXTURES: Record<string, Fixture> = {
  'GET /livez': { path: () => '/livez', accepted: [200] },
  'GET /readyz': { path: () => '/readyz', accepted: [200] },
  'GET /api/health/workflows': { path: () => '/api/health/workflows', accepted: [200] },
  'GET /metrics': { path: () => '/metrics', accepted: [200] },
  'GET /api/openapi.json': { path: () => '/api/openapi.json', accepted: [200] },
  'GET /api/docs': { path: () => '/api/docs', accepted: [200] },
  'GET /api/workflows': { path: () => '/api/workflows', accepted: [200] },
  'POST /api/workflows/validate': { path: () => '/api/workflows/validate', accepted: [200] },
  'POST /api/workflows': { path: () => '/api/workflows', accepted: [201] },
  'GET /api/workflows/{id}': { path: () => '/api/workflows/docs-def', accepted: [200] },
  'GET /api/workflows/{id}/versions/{version}': { path: () => '/api/workflows/docs-def/versions/1', accepted: [200] },
  'PUT /api/workflows/{id}': { path: () => '/api/workflows/docs-def', accepted: [200] },
  'DELETE /api/workflows/{id}': {
    path: async () => {
      const key = `docs-doomed-${++serial}`;
      const created = await h.api('POST', '/api/workflows', { key, name: 'Doomed', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
      expect(created.status).toBe(201);
      return `/api/workflows/${key}`;
    },
    accepted: [200],
  },
  'POST /api/workflows/{id}/enable': { path: () => '/api/workflows/docs-def/enable', accepted: [200] },
  'POST /api/workflows/{id}/disable': { path: () => '/api/workflows/docs-def/disable', accepted: [200] },
  'POST /api/workflows/{id}/execute': { path: () => '/api/workflows/docs-run/execute', accepted: [202] },
  // The minimal body moves version 1 to itself (422, past validation); the example names versions the definition lacks.
  'POST /api/workflows/{id}/migrate': { path: () => '/api/workflows/docs-def/migrate', accepted: [404, 422] },
  'POST /api/hooks/{key}': { path: () => '/api/hooks/docs-hook', accepted: [202], headers: signed },
  'GET /api/executions': { path: () => '/api/executions', accepted: [200] },
  'GET /api/executions/{id}': { path: () => `/api/executions/${executionId}`, accepted: [200] },
  'GET /api/executions/{id}/logs': { path: () => `/api/executions/${executionId}/logs`, accepted: [200] },
  'GET /api/executions/{id}/history': { path: () => `/api/executions/${executionId}/history`, accepted: [200] },
  // The run sends nothing: a ledger row of its own, so the answer's rows are held to the document too.
  'GET /api/executions/{id}/deliveries': {
    path: async () => {
      await h.db
        .insertInto('deliveries')
        .values({ delivery_key: `${workflowId}/notify`, channel: 'email', status: 'SENT', attempts: 1, workflow_id: workflowId, step_path: 'notify', recipient: 'ada@example.test', provider_message_id: null, result: null, last_error: null })
        .onConflict((oc) => oc.column('delivery_key').doNothing())
        .execute();
      return `/api/executions/${executionId}/deliveries`;
    },
    accepted: [200],
  },
  'POST /api/executions/{id}/signal': { path: () => `/api/executions/${executionId}/signal`, accepted: [409] },
  'POST /api/executions/{id}/cancel': { path: () => `/api/executions/${executionId}/cancel`, accepted: [409] },
  'POST /api/executions/{id}/terminate': { path: () => `/api/executions/${executionId}/terminate`, accepted: [409] },
  'POST /api/executions/{id}/replay': { path: () => `/api/executions/${executionId}/replay`, accepted: [202] },
  'POST /api/executions/{id}/reset': { path: () => `/api/executions/${executionId}/reset`, accepted: [409] },
  'POST /api/executions/{id}/approvals': { path: () => `/api/executions/${executionId}/approvals`, accepted: [409] },
  // Nothing the minimal bodies name matches: 422 is past validation; the examples ask for dry runs.
  'POST /api/executions/bulk/reset': { path: () => '/api/executions/bulk/reset', accepted: [200, 422] },
  'POST /api/executions/bulk/replay': { path: () => '/api/executions/bulk/replay', accepted: [200, 422] },
  'GET /api/session': { path: () => '/api/session', accepted: [200] },
  // The example's payload is not a sealed one (no data): 400 once past validation.
  'POST /api/codec/decode': { path: () => '/api/codec/decode', accepted: [200, 400] },
  'POST /api/codec/encode': { path: () => '/api/codec/encode', accepted: [200] },
  'GET /api/approvals': { path: () => '/api/approvals', accepted: [200] },
  'GET /api/reports/summary': { path: () => '/api/reports/summary', accepted: [200] },
  'GET /api/reports/daily': { path: () => '/api/reports/daily', accepted: [200] },
  'GET /api/reports/steps': { path: () => '/api/reports/steps', accepted: [200] },
  'GET /api/reports/deliveries': { path: () => '/api/reports/deliveries', accepted: [200] },
  'GET /api/outbox': { path: () => '/api/outbox', accepted: [200] },
  'GET /api/batches': { path: () => '/api/batches', accepted: [200] },
  'GET /api/batches/{id}': { path: () => `/api/batches/${randomUUID()}`, accepted: [404] },
  'POST /api/batches/{id}/cancel': { path: () => `/api/batches/${randomUUID()}/cancel`, accepted: [404] },
  'GET /api/audit': { path: () => '/api/audit', accepted: [200] },
  'POST /api/keys': { path: () => '/api/keys', accepted: [201] },
  'GET /api/keys': { path: () => '/api/keys', accepted: [200] },
  'DELETE /api/keys/{id}': {
    path: async () => `/api/keys/${(await createApiKey(h.db, { name: `doomed ${++serial}`, role: 'viewer' })).record.id}`,
    accepted: [204],
  },
  'GET /api/connections': { path: () => '/api/connections', accepted: [200] },
  // The minimal body names a type without the fields it needs: the type's own checks (the reference's table of types) answer 400 past the body's schema.
  'POST /api/connections': { path: () => '/api/connections', accepted: [201, 400] },
  'GET /api/connections/{name}': { path: () => '/api/connections/docs-teams', accepted: [200] },
  'PUT /api/connections/{name}': { path: () => '/api/connections/docs-teams', accepted: [200] },
  'DELETE /api/connections/{name}': {
    path: async () => {
      const name = `docs-doomed-${++serial}`;
      expect((await h.api('POST', '/api/connections', docsConnection(name))).status).toBe(201);
      return `/api/connections/${name}`;
    },
    accepted: [204],
  },
  // A Teams webhook cannot be checked without posting: the answer says so.
  'POST /api/connections/{name}/test': { path: () => '/api/connections/docs-teams/test', accepted: [200] },
  'GET /api/connection-types': { path: () => '/api/connection-types', accepted: [200] },
  // This gateway names no worker deployment: the answer says so, with no build.
  'GET /api/deployments': { path: () => '/api/deployments', accepted: [200] },
};

const OPERATIONS = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), op: op as any })),
);
const WITH_BODY = OPERATIONS.filter((o) => o.op.requestBody);

/** Sends `body` as JSON (signed when the operation wants it). */
async function send(name: string, method: string, body: unknown) {
  const fixture = FIXTURES[name]!;
  const raw = JSON.stringify(body);
  return call(method, await fixture.path(), raw, { 'content-type': 'application/json', ...fixture.headers?.(raw) });
}

function bodySchema(op: any) {
  return op.requestBody.content['application/json'].schema;
}

// --- the tests ----------------------------------------------------------------------------------

describe('the document and the page', () => {
  it('serve the document without a key, as the gateway builds it', async () => {
    const res = await call('GET', '/api/openapi.json', undefined, {}, null);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual(doc);
  });

  it('serve a reference page without a key, with its assets from this gateway and a policy of its own', async () => {
    const page = await call('GET', '/api/docs', undefined, {}, null);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = page.body as string;
    // Offline: nothing is loaded from another host.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => u.startsWith('/api/docs/'));
    expect(assets).toEqual(expect.arrayContaining(['/api/docs/swagger-ui.css', '/api/docs/swagger-ui-bundle.js', '/api/docs/init.js']));
    for (const asset of assets) {
      const res = await fetch(`${h.baseUrl}${asset}`);
      expect(res.status, asset).toBe(200);
      const text = await res.text();
      expect(text.length, asset).toBeGreaterThan(10);
      if (asset.endsWith('.js')) expect(res.headers.get('content-type'), asset).toMatch(/javascript/);
      if (asset.endsWith('.css')) expect(res.headers.get('content-type'), asset).toMatch(/^text\/css/);
      if (asset.endsWith('init.js')) expect(text).toContain('/api/openapi.json');
      if (asset.endsWith('swagger-ui-bundle.js')) expect(text.length).toBeGreaterThan(100_000);
    }
    // The page's policy: scripts and styles from here only, no eval, no framing.
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-eval|https?:/);
    expect(DOCS_CSP_DIRECTIVES.scriptSrc).toEqual(["'self'"]);
    // The rest of the API keeps the gateway's own policy.
    const api = await h.api('GET', '/api/workflows');
    expect(api.headers.get('content-security-policy')).not.toBe(csp);
    expect(api.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('serve nothing else from the package', async () => {
    for (const path of ['/api/docs/index.html', '/api/docs/package.json', '/api/docs/swagger-initializer.js', '/api/docs/swagger-ui.js.map']) {
      const res = await h.api('GET', path, undefined, {}, { key: null });
      expect(res.status, path).toBe(404);
      expect(res.body.code).toBe('route_not_found');
    }
  });
});

describe('every operation', () => {
  it('has a request here that reaches it', () => {
    expect(OPERATIONS.map((o) => o.name).sort()).toEqual(Object.keys(FIXTURES).sort());
  });

  it.each(OPERATIONS.map((o) => [o.name, o] as const))('%s answers as documented', async (name, { method, op }) => {
    const fixture = FIXTURES[name]!;
    let res: ApiResponse;
    if (op.requestBody) {
      const example = op.requestBody.content['application/json'].example;
      const validate = compile(bodySchema(op));
      // The documented example is valid, and the route takes it.
      expect(validate(example), ajv.errorsText(validate.errors)).toBe(true);
      res = await send(name, method, example);
    } else {
      res = await call(method, await fixture.path());
    }
    expect(fixture.accepted, `${name}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
  });
});

describe.each(WITH_BODY.map((o) => [o.name, o] as const))('%s: the body schema', (name, { method, op }) => {
  const schema = () => resolveRef(bodySchema(op));

  it('is what the route accepts: a body of its required fields only', async () => {
    const body = minimal(schema());
    const validate = compile(bodySchema(op));
    expect(validate(body), ajv.errorsText(validate.errors)).toBe(true);
    const res = await send(name, method, body);
    expect(FIXTURES[name]!.accepted, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
  });

  it('is what the route refuses: the body without any one required field', async () => {
    const required: string[] = schema().required ?? [];
    for (const field of required) {
      const body = minimal(schema()) as Record<string, unknown>;
      delete body[field];
      expect(compile(bodySchema(op))(body), field).toBe(false);
      const res = await send(name, method, body);
      expect(res.status, `without ${field}: ${JSON.stringify(res.body)}`).toBe(400);
    }
  });

  it('says whether the route takes fields it does not name', async () => {
    const body = { ...(minimal(schema()) as object), notAField: 1 };
    const closed = schema().additionalProperties === false;
    expect(compile(bodySchema(op))(body)).toBe(!closed);
    const res = await send(name, method, body);
    if (closed) expect(res.status).toBe(400);
    else expect(FIXTURES[name]!.accepted).toContain(res.status);
  });
});

describe('parameters', () => {
  const queried = OPERATIONS.filter((o) => (o.op.parameters ?? []).some((p: { in: string }) => p.in === 'query'));

  /** A value the parameter's schema refuses, when one can be derived from it. */
  function refused(schema: any): unknown {
    if (schema.enum) return 'not-a-choice';
    if (schema.type === 'integer') return schema.minimum !== undefined ? schema.minimum - 1 : 'abc';
    if (schema.format === 'date-time') return 'yesterday';
    if (schema.type === 'string' && (schema.minLength ?? 0) > 0) return '';
    return undefined;
  }

  it('covers the list routes', () => {
    expect(queried.map((o) => o.name).sort()).toEqual([
      'DELETE /api/connections/{name}',
      'DELETE /api/workflows/{id}',
      'GET /api/approvals',
      'GET /api/audit',
      'GET /api/batches',
      'GET /api/executions',
      'GET /api/executions/{id}',
      'GET /api/outbox',
      'GET /api/reports/daily',
      'GET /api/reports/deliveries',
      'GET /api/reports/steps',
      'GET /api/reports/summary',
      'GET /api/workflows',
    ]);
  });

  it.each(queried.map((o) => [o.name, o] as const))('%s: each query parameter as the schema allows it is accepted, as it refuses it is refused', async (name, { method, op }) => {
    const base = await FIXTURES[name]!.path();
    for (const param of op.parameters.filter((p: { in: string }) => p.in === 'query')) {
      const validate = compile(param.schema);
      const good = param.example ?? minimal(param.schema);
      expect(validate(good), `${param.name}=${String(good)}`).toBe(true);
      const ok = await call(method, `${base}?${new URLSearchParams({ [param.name]: String(good) })}`);
      expect(FIXTURES[name]!.accepted, `${param.name}=${String(good)}: ${ok.status} ${JSON.stringify(ok.body)}`).toContain(ok.status);

      const bad = refused(param.schema);
      if (bad === undefined) continue;
      expect(validate(bad), `${param.name}=${String(bad)}`).toBe(false);
      const no = await call(method, `${base}?${new URLSearchParams({ [param.name]: String(bad) })}`);
      expect(no.status, `${param.name}=${String(bad)}`).toBe(400);
      expect(no.body.errors.map((e: { path: string }) => e.path)).toContain(`$.query.${param.name}`);
    }
  });

  it('a path parameter the schema refuses, the route refuses', async () => {
    const { op } = operationOf('GET', '/api/workflows/docs-def/versions/1');
    const version = op.parameters.find((p: { name: string }) => p.name === 'version');
    const validate = compile(version.schema);
    expect(validate(minimal(version.schema))).toBe(true);
    expect((await call('GET', `/api/workflows/docs-def/versions/${String(minimal(version.schema))}`)).status).toBe(200);
    for (const bad of [0, 'abc', 1.5]) {
      expect(validate(bad), String(bad)).toBe(false);
      expect((await call('GET', `/api/workflows/docs-def/versions/${bad}`)).status, String(bad)).toBe(400);
    }
  });

  it('a signature the documented pattern refuses, the hook refuses', async () => {
    const { op } = operationOf('POST', '/api/hooks/docs-hook');
    const patternOf = (name: string) => new RegExp(op.parameters.find((p: { name: string }) => p.name === name).schema.pattern);
    const raw = JSON.stringify({ n: 1 });
    const good = signed(raw);
    for (const [name, value] of Object.entries(good)) expect(patternOf(name).test(value), name).toBe(true);
    for (const [name, bad] of [
      ['webhook-signature', 'sha256=abc'],
      ['webhook-signature', 'v1=abc'],
      ['webhook-signature', ''],
      ['webhook-id', 'evt.1'],
      ['webhook-id', ''],
      ['webhook-timestamp', '1.5'],
      ['webhook-timestamp', 'now'],
    ] as const) {
      expect(patternOf(name).test(bad), `${name}: ${bad}`).toBe(false);
      const res = await call('POST', '/api/hooks/docs-hook', raw, { 'content-type': 'application/json', ...good, [name]: bad });
      expect(res.status, `${name}: ${bad}`).toBe(401);
      expect(res.body.code).toBe('invalid_signature');
    }
  });
});
