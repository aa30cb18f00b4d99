/**
 * The OpenAPI document: a well-formed OpenAPI 3.1 document (checked against
 * a meta-schema of the parts that matter), every route the gateway declares
 * in it and nothing else, every reference resolving, every schema a valid
 * JSON Schema, and the security schemes, problem shape and webhook signature
 * it promises.
 */
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, OPERATIONS, openApiPath, type OpenApiDocument } from '../../src/gateway/openapi';
import { HttpProblem, sendProblem } from '../../src/gateway/problem';
import { STEP_TYPES } from '../../src/shared/definition';

const doc = buildOpenApiDocument();
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** The parts of OpenAPI 3.1 this document relies on, as a JSON Schema. */
const META_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: {
      type: 'object',
      required: ['title', 'version'],
      properties: { title: { type: 'string', minLength: 1 }, version: { type: 'string', minLength: 1 }, description: { type: 'string' } },
    },
    security: { $ref: '#/$defs/security' },
    tags: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'summary', 'description', 'parameters'] },
        additionalProperties: { $ref: '#/$defs/operation' },
      },
    },
    components: {
      type: 'object',
      required: ['schemas', 'securitySchemes'],
      properties: {
        schemas: { type: 'object', additionalProperties: { type: ['object', 'boolean'] } },
        headers: { type: 'object', additionalProperties: { $ref: '#/$defs/header' } },
        securitySchemes: {
          type: 'object',
          additionalProperties: {
            oneOf: [
              {
                type: 'object',
                required: ['type', 'name', 'in'],
                properties: { type: { const: 'apiKey' }, name: { type: 'string' }, in: { enum: ['query', 'header', 'cookie'] } },
              },
              { type: 'object', required: ['type', 'scheme'], properties: { type: { const: 'http' }, scheme: { type: 'string' } } },
            ],
          },
        },
      },
    },
  },
  $defs: {
    security: { type: 'array', items: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } },
    ref: { type: 'object', required: ['$ref'], properties: { $ref: { type: 'string', pattern: '^#/' } } },
    header: {
      oneOf: [
        { $ref: '#/$defs/ref' },
        { type: 'object', required: ['schema'], properties: { description: { type: 'string' }, schema: { type: 'object' } }, not: { required: ['$ref'] } },
      ],
    },
    mediaTypes: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[a-z]+/[a-z0-9.+-]+$' },
      additionalProperties: { type: 'object', required: ['schema'], properties: { schema: { type: 'object' } } },
    },
    operation: {
      type: 'object',
      required: ['responses', 'operationId', 'summary'],
      properties: {
        operationId: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*$' },
        summary: { type: 'string', minLength: 1 },
        tags: { type: 'array', items: { type: 'string' } },
        security: { $ref: '#/$defs/security' },
        parameters: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'in', 'schema'],
            properties: { name: { type: 'string' }, in: { enum: ['query', 'header', 'path', 'cookie'] }, required: { type: 'boolean' }, schema: { type: 'object' } },
            if: { properties: { in: { const: 'path' } } },
            then: { required: ['required'], properties: { required: { const: true } } },
          },
        },
        requestBody: {
          type: 'object',
          required: ['content'],
          properties: { required: { type: 'boolean' }, content: { $ref: '#/$defs/mediaTypes' } },
        },
        responses: {
          type: 'object',
          minProperties: 1,
          propertyNames: { pattern: '^[1-5]\\d\\d$' },
          additionalProperties: {
            type: 'object',
            required: ['description'],
            properties: {
              description: { type: 'string', minLength: 1 },
              headers: { type: 'object', additionalProperties: { $ref: '#/$defs/header' } },
              content: { $ref: '#/$defs/mediaTypes' },
            },
          },
        },
      },
    },
  },
};

/** `serve('<METHOD> <path>'` in the route files: what the gateway serves. */
async function declaredRoutes(): Promise<string[]> {
  const dir = resolve('src/gateway/routes');
  const declared: string[] = [];
  for (const file of await readdir(dir)) {
    const text = await readFile(resolve(dir, file), 'utf8');
    for (const m of text.matchAll(/serve\(\s*'(GET|POST|PUT|DELETE|PATCH) ([^']+)'/g)) declared.push(`${m[1]!} ${openApiPath(m[2]!)}`);
  }
  return declared.sort();
}

function documentedRoutes(document: OpenApiDocument): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).filter((k) => (METHODS as readonly string[]).includes(k)).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

/** Every operation of the document, with its method and path. */
function operations(document: OpenApiDocument = doc) {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => (METHODS as readonly string[]).includes(method))
      .map(([method, op]) => ({ method, path, op: op as any })),
  );
}

/** Follows a local reference (`#/components/schemas/Problem`). */
function follow(pointer: string): unknown {
  return pointer
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<any>((node, part) => (node === undefined ? undefined : node[part]), doc);
}

function collectRefs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, found);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else collectRefs(value, found);
    }
  }
  return found;
}

/**
 * Each routes file's routes as it serves them from their declarations
 * (`serve('POST /api/keys', …)`), what it registers or guards by hand instead,
 * and the operations it exports.
 */
async function routesFiles() {
  const dir = resolve('src/gateway/routes');
  return Promise.all(
    (await readdir(dir)).map(async (file) => {
      const text = await readFile(resolve(dir, file), 'utf8');
      const routes = [...text.matchAll(/serve\(\s*'((?:GET|POST|PUT|DELETE|PATCH) [^']+)'/g)].map((m) => m[1]!);
      const byHand = [...text.matchAll(/router\.(?:get|post|put|delete|patch)\(\s*'[^']+'|requireRole\(/g)].map((m) => m[0]);
      const module = (await import(resolve(dir, file))) as Record<string, unknown>;
      const tables = Object.entries(module).filter(([name]) => name.endsWith('Operations'));
      return { file, routes, byHand, tables: tables.map(([, table]) => table as Record<string, { access: string }>) };
    }),
  );
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 in the parts that matter', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const valid = ajv.validate(META_SCHEMA, doc);
    expect(ajv.errors ?? [], ajv.errorsText(ajv.errors)).toEqual([]);
    expect(valid).toBe(true);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('the meta-schema refuses what it should', () => {
    const ajv = new Ajv2020({ strict: false });
    const check = ajv.compile(META_SCHEMA);
    const broken = structuredClone(doc) as any;
    delete broken.paths['/api/keys'].get.responses;
    expect(check(broken)).toBe(false);
    expect(check({ ...doc, openapi: '3.0.3' })).toBe(false);
    const noDescription = structuredClone(doc) as any;
    noDescription.paths['/livez'].get.responses['200'].description = '';
    expect(check(noDescription)).toBe(false);
  });

  it('documents every route the gateway declares, and no other', async () => {
    const declared = await declaredRoutes();
    expect(declared.length).toBeGreaterThan(20);
    expect(documentedRoutes(doc)).toEqual(declared);
  });

  it('is described by each routes file beside its handlers: its own routes, each served from its declaration and so with the role it declares', async () => {
    const files = await routesFiles();
    for (const { file, routes, byHand, tables } of files) {
      // A route registered, or a role checked, outside its declaration could enforce another role than the document states.
      expect(byHand, `${file} registers a route or checks a role by hand`).toEqual([]);
      if (routes.length === 0) {
        expect(tables, file).toEqual([]);
        continue;
      }
      expect(tables, `${file} exports one table of operations`).toHaveLength(1);
      expect(Object.keys(tables[0]!).sort(), file).toEqual([...routes].sort());
    }
    expect(files.flatMap((f) => f.routes).length).toBe(Object.keys(OPERATIONS).length);
  });

  it('would fail the route check when a declared route is missing', async () => {
    const declared = await declaredRoutes();
    const missing = structuredClone(doc);
    delete missing.paths['/api/executions/{id}/approvals'];
    expect(documentedRoutes(missing)).not.toEqual(declared);
    expect(declared.filter((r) => !documentedRoutes(missing).includes(r))).toEqual(['POST /api/executions/{id}/approvals']);
  });

  it('has unique operation ids, a path parameter for every {name} in a path, and no other', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of operations()) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name).sort();
      expect(declared, `${method} ${path}`).toEqual(inPath);
    }
  });

  it('resolves every reference', () => {
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of new Set(refs)) expect(follow(ref), ref).toBeDefined();
  });

  it('has schemas that are valid JSON Schema (2020-12)', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema({ $id: 'doc', components: doc.components });
    for (const name of Object.keys(doc.components.schemas!)) {
      expect(() => ajv.compile({ $ref: `doc#/components/schemas/${name}` }), name).not.toThrow();
    }
    for (const { method, path, op } of operations()) {
      for (const p of op.parameters ?? []) expect(() => ajv.compile(p.schema), `${method} ${path} ${p.name}`).not.toThrow();
    }
  });

  it('declares bearer and X-API-Key security, and lets the open routes through without a key', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    for (const path of ['/livez', '/readyz', '/api/health/workflows', '/metrics', '/api/openapi.json', '/api/docs']) {
      expect(doc.paths[path]!.get!.security, path).toEqual([]);
      expect(doc.paths[path]!.get!['x-api-key-role'], path).toBeNull();
    }
    expect(doc.paths['/api/keys']!.post!.security).toBeUndefined();
    expect(doc.paths['/api/keys']!.post!['x-api-key-role']).toBe('admin');
    expect(doc.paths['/api/workflows/{id}/execute']!.post!['x-api-key-role']).toBe('operator');
    // With METRICS_REQUIRE_KEY, /metrics takes the API key security.
    const keyed = buildOpenApiDocument({ metricsRequireKey: true }).paths['/metrics']!.get!;
    expect(keyed.security).toBeUndefined();
    expect(keyed['x-api-key-role']).toBe('viewer');
    expect(Object.keys(keyed.responses as object)).toContain('401');
  });

  it('describes the webhook signature headers, standard and legacy', () => {
    const hook = doc.paths['/api/hooks/{key}']!.post! as any;
    expect(hook.security).toEqual([{ webhookSignature: [] }]);
    expect(doc.components.securitySchemes!.webhookSignature).toMatchObject({ type: 'apiKey', in: 'header', name: 'webhook-signature' });
    const header = (name: string) => hook.parameters.find((p: { name: string }) => p.name === name);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'X-Signature', 'X-Delivery-Id']) {
      expect(header(name), name).toMatchObject({ in: 'header', required: false });
    }
    expect(new RegExp(header('webhook-signature').schema.pattern).test(`v1,${'A'.repeat(43)}= v1a,${'b'.repeat(86)}==`)).toBe(true);
    expect(new RegExp(header('webhook-id').schema.pattern).test('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W')).toBe(true);
    expect(new RegExp(header('webhook-id').schema.pattern).test('msg.1')).toBe(false);
    expect(new RegExp(header('X-Signature').schema.pattern).test(`t=1764095528,v1=${'a'.repeat(64)}`)).toBe(true);
    expect(Object.keys(hook.responses)).toEqual(expect.arrayContaining(['200', '202', '401', '503']));
  });

  it('answers every error as a problem+json Problem, and the Problem schema matches what the gateway sends', () => {
    for (const { method, path, op } of operations()) {
      expect(Object.keys(op.responses).some((s) => s.startsWith('2')), `${method} ${path} has a success answer`).toBe(true);
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (Number(status) < 400) continue;
        // The probes answer 503 with their own report, not a problem.
        if (status === '503' && (path === '/readyz' || path === '/api/health/workflows')) continue;
        expect(response.content, `${method} ${path} ${status}`).toEqual({ 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } });
      }
    }
    const sent: unknown[] = [];
    const res: any = { set: () => res, status: () => res, type: () => res, json: (body: unknown) => sent.push(body) };
    sendProblem(res, new HttpProblem('validation_failed', 'bad', [{ path: '$.body.name', message: 'is required' }]), 'req-1');
    sendProblem(res, new HttpProblem('internal_error', 'oops'));
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'doc', components: doc.components });
    const validate = ajv.compile({ $ref: 'doc#/components/schemas/Problem' });
    for (const body of sent) expect(validate(body), ajv.errorsText(validate.errors)).toBe(true);
    expect(validate({ type: 'x', title: 'x', status: 400, code: 'no_such_code', detail: 'x' })).toBe(false);
  });

  it('lists 401 and 403 where a key is needed, and 429 where requests are limited', () => {
    const viewer = doc.paths['/api/workflows']!.get!.responses as Record<string, any>;
    expect(viewer['401'].headers['WWW-Authenticate']).toBeDefined();
    expect(viewer['429'].headers['Retry-After']).toBeDefined();
    expect(viewer['403']).toBeUndefined(); // every key may read
    expect((doc.paths['/api/keys']!.get!.responses as Record<string, unknown>)['403']).toBeDefined();
    expect((doc.paths['/livez']!.get!.responses as Record<string, unknown>)['401']).toBeUndefined();
  });

  it('describes every step type of the definition language', () => {
    const step = doc.components.schemas!.Step as { oneOf: { $ref: string }[]; discriminator: { mapping: Record<string, string> } };
    expect(Object.keys(step.discriminator.mapping).sort()).toEqual([...STEP_TYPES].sort());
    for (const type of STEP_TYPES) {
      const schema = follow(step.discriminator.mapping[type]!) as { properties: { type: { const: string } } };
      expect(schema.properties.type.const, type).toBe(type);
    }
    expect(step.oneOf).toHaveLength(STEP_TYPES.length);
  });

  it('takes request schemas from the routes: the same bounds and required fields', () => {
    const schemas = doc.components.schemas as Record<string, any>;
    expect(schemas.CreateApiKeyRequest).toMatchObject({ required: ['name', 'role'], additionalProperties: false });
    expect(schemas.CreateApiKeyRequest.properties.role.enum).toEqual(['viewer', 'operator', 'admin']);
    expect(schemas.TerminateRequest.properties.reason).toMatchObject({ minLength: 1, maxLength: 1000 });
    expect(schemas.Definition.required).toEqual(['key', 'name', 'steps']);
    expect(schemas.DefinitionUpdate.required).toEqual(['name', 'steps']);
    const limit = (doc.paths['/api/workflows']!.get!.parameters as any[]).find((p) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 200, default: 50 });
  });
});
