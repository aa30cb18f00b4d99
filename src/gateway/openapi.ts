/**
 * The gateway's OpenAPI 3.1 document, served at `GET /api/openapi.json` and
 * rendered at `/api/docs`, built from the operations each routes file
 * declares beside its handlers (see operations.ts).
 *
 * Request bodies, query strings and path parameters are described by the
 * very zod schemas the routes validate with, and answers by the schemas the
 * routes declare beside the code that builds them (which the tests check real
 * answers against), converted by `z.toJSONSchema`; refinements, which JSON
 * Schema cannot express, are named in descriptions (`x-rules`). What is shared
 * by every route is here: the problem shape, the steps of the definition
 * language, the security schemes and what reaching a route may answer.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fromRoot } from '../paths';
import { STEP_SCHEMAS, STEP_TYPES, stepSchema } from '../shared/definition';
import { isRole } from '../shared/roles';
import { type Answer, apiSchemas, named, type Operation, type Operations, requiredRole, TAGS } from './operations';
import { PROBLEM_CODES, type ProblemCode } from './problem';
import { approvalOperations } from './routes/approvals';
import { codecOperations } from './routes/codec';
import { docsOperations } from './routes/docs';
import { executionActionOperations } from './routes/execution-actions';
import { executionOperations } from './routes/executions';
import { healthOperations } from './routes/health';
import { hookOperations } from './routes/hooks';
import { connectionOperations } from './routes/connections';
import { deploymentOperations } from './routes/deployments';
import { keyOperations } from './routes/keys';
import { metricsOperations } from './routes/metrics';
import { outboxOperations } from './routes/outbox';
import { recoveryOperations } from './routes/recovery';
import { reportOperations } from './routes/reports';
import { sessionOperations } from './routes/session';
import { workflowRunOperations } from './routes/workflow-runs';
import { workflowOperations } from './routes/workflows';

type Json = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string; license: { name: string; identifier?: string; url?: string } };
  servers: { url: string; description?: string }[];
  paths: Record<string, Record<string, Json>>;
  components: Record<string, Record<string, Json>>;
  security: Record<string, string[]>[];
  tags: { name: string; description: string }[];
  [extension: `x-${string}`]: unknown;
}

// --- schemas ------------------------------------------------------------------------------------

/** `wait_for_signal` → `WaitForSignalStep` */
function stepComponentName(type: string): string {
  return `${type.replace(/(^|_)([a-z])/g, (_m, _sep, c: string) => c.toUpperCase())}Step`;
}

const problemFieldSchema = z.object({
  path: z.string().meta({ description: 'JSON path of the field, e.g. `$.steps[2].to` or `$.query.limit`' }),
  message: z.string(),
});

const problemSchema = z
  .object({
    type: z.string().meta({ description: '`about:blank#<code>`' }),
    title: z.string().meta({ description: 'the code in words' }),
    status: z.int().meta({ description: 'the HTTP status' }),
    code: z.enum(Object.keys(PROBLEM_CODES) as [ProblemCode, ...ProblemCode[]]),
    detail: z.string().meta({ description: 'what went wrong, for people' }),
    errors: z.array(problemFieldSchema).optional().meta({ description: 'every bad field, for field problems' }),
    requestId: z.string().optional().meta({ description: "the request's X-Request-Id" }),
  })
  .meta({ description: 'An RFC 9457 problem: every error the gateway answers has this shape.' });

/** The named schemas every route shares; the routes name their own beside them. */
const COMPONENTS = {
  Problem: problemSchema,
  ProblemField: problemFieldSchema,
  // Definition documents' steps (request bodies name `Definition`, whose steps refer here).
  Step: stepSchema,
  ...Object.fromEntries(STEP_TYPES.map((type) => [stepComponentName(type), STEP_SCHEMAS[type]])),
} satisfies Record<string, z.ZodType>;
for (const [id, schema] of Object.entries(COMPONENTS)) named(id, schema);

/** A reference to a named schema. */
function ref(schema: z.ZodType): Json {
  const id = apiSchemas.get(schema)?.id;
  if (id === undefined) throw new Error(`an operation uses a schema the document does not name (${schema.description ?? 'no description'}): name it with named()`);
  return { $ref: `#/components/schemas/${id}` };
}

/** The named schemas as JSON Schema, each `Step` a choice of the step types. */
function componentSchemas(): Record<string, Json> {
  const { schemas } = z.toJSONSchema(apiSchemas, {
    io: 'input',
    // Refinements and transforms have no JSON Schema: the rest of the schema still says what is accepted.
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
    override: (ctx) => {
      // Refinements have no JSON Schema: name the rules they check.
      const rules = refinementMessages(ctx.zodSchema);
      if (rules.length > 0) {
        const described = ctx.jsonSchema.description ? `${ctx.jsonSchema.description} ` : '';
        Object.assign(ctx.jsonSchema, { description: `${described}Further checks (their messages): ${rules.map((r) => `"${r}"`).join('; ')}.`, 'x-rules': rules });
      }
      // The step parser dispatches on `type` by hand; the document says the same with a discriminator.
      if (ctx.zodSchema === (stepSchema as unknown)) {
        const types = STEP_TYPES;
        Object.assign(ctx.jsonSchema, {
          description: `A step: its \`type\` is one of ${types.join(', ')}.`,
          oneOf: types.map((type) => ({ $ref: `#/components/schemas/${stepComponentName(type)}` })),
          discriminator: {
            propertyName: 'type',
            mapping: Object.fromEntries(types.map((type) => [type, `#/components/schemas/${stepComponentName(type)}`])),
          },
        });
      }
    },
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema as Json;
      return [id, rest];
    }),
  );
}

/** The messages of a schema's own refinements (`.refine()`), when they are fixed text. */
function refinementMessages(schema: unknown): string[] {
  const checks = (schema as { _zod?: { def?: { checks?: { _zod?: { def?: { check?: string; error?: unknown } } }[] } } })._zod?.def?.checks ?? [];
  return checks.flatMap((check) => {
    const def = check._zod?.def;
    if (def?.check !== 'custom' || typeof def.error !== 'function') return [];
    try {
      const message: unknown = (def.error as () => unknown)();
      return typeof message === 'string' && message ? [message] : [];
    } catch {
      return [];
    }
  });
}

/** One schema as JSON Schema, inline (query strings and path parameters). */
function inline(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

// --- operations ---------------------------------------------------------------------------------


/** Every route the gateway declares, keyed by method and Express path, in the order the document lists them. */
export const OPERATIONS: Operations = merged([
  healthOperations,
  metricsOperations,
  docsOperations,
  workflowOperations,
  workflowRunOperations,
  hookOperations,
  executionOperations,
  executionActionOperations,
  approvalOperations,
  recoveryOperations,
  reportOperations,
  outboxOperations,
  codecOperations,
  sessionOperations,
  keyOperations,
  connectionOperations,
  deploymentOperations,
]);

/** The routes files' operations as one table; a route declared in two of them is a mistake, caught here. */
function merged(tables: Operations[]): Operations {
  const all: Record<string, Operation> = {};
  for (const table of tables) {
    for (const [key, op] of Object.entries(table)) {
      if (Object.hasOwn(all, key)) throw new Error(`${key} is declared by two routes files`);
      all[key] = op;
    }
  }
  return all;
}

/** `/api/workflows/:id` → `/api/workflows/{id}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_]\w*)/g, '{$1}');
}

// --- the document -------------------------------------------------------------------------------

const PROBLEM_HEADERS: Partial<Record<number, Record<string, Json>>> = {
  401: {
    'WWW-Authenticate': {
      description: '`Bearer realm="workflow-automation"`, with `error=…` for a malformed or unknown key or an invalid token',
      schema: { type: 'string' },
    },
  },
  429: { 'Retry-After': { description: 'seconds until the window resets', schema: { type: 'integer' } } },
};

/** The problems an operation may answer with: its own, and those of how it is reached. */
function problemsOf(spec: Operation, metricsRequireKey: boolean, oidc: boolean): ProblemCode[] {
  const codes = new Set<ProblemCode>(spec.problems ?? []);
  const keyed = requiredRole(spec.access, { metricsRequireKey }) !== null;
  if (keyed) codes.add('unauthenticated');
  // With OIDC, a valid token that maps to no role is refused even where any key may read.
  if (keyed && ((spec.access !== 'metrics' && spec.access !== 'viewer') || oidc)) codes.add('forbidden');
  if (keyed && oidc) codes.add('identity_provider_unavailable');
  if (isRole(spec.access) || spec.access === 'signed') codes.add('rate_limited');
  if (spec.access === 'signed') codes.add('invalid_signature');
  if (spec.body) {
    codes.add('invalid_json');
    codes.add('payload_too_large');
    codes.add('unsupported_media_type');
  }
  if (keyed || spec.access === 'signed') codes.add('database_unavailable');
  // Every route: a path, query string, header or body holding text that cannot be stored (request-text.ts).
  codes.add('invalid_text');
  codes.add('internal_error');
  return [...codes];
}

function problemAnswers(codes: ProblemCode[]): Record<string, Json> {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) byStatus.set(PROBLEM_CODES[code], [...(byStatus.get(PROBLEM_CODES[code]) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: `problem: ${list.map((c) => `\`${c}\``).join(', ')}`,
        headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' }, ...PROBLEM_HEADERS[status] },
        content: { 'application/problem+json': { schema: ref(problemSchema) } },
      },
    ]),
  );
}

function answer(a: Answer): Json {
  const headers = { 'X-Request-Id': { $ref: '#/components/headers/RequestId' }, ...a.headers };
  if (a.empty) return { description: a.description, headers };
  const content = a.type ? { [a.type]: { schema: { type: 'string' } } } : { 'application/json': { schema: a.schema ? ref(a.schema) : { type: 'object' } } };
  return { description: a.description, headers, content };
}

function queryParameters(query: NonNullable<Operation['query']>): Json[] {
  const schema = inline(query.schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: (schema.required ?? []).includes(name),
    ...(query.docs[name] ? { description: query.docs[name].description } : {}),
    schema: property,
    ...(query.docs[name]?.example !== undefined ? { example: query.docs[name].example } : {}),
  }));
}

function operation(key: string, spec: Operation, metricsRequireKey: boolean, oidc: boolean): Json {
  const parameters: Json[] = [
    ...Object.entries(spec.params ?? {}).map(([name, p]) => ({
      name,
      in: 'path',
      required: true,
      description: p.description,
      schema: p.schema ? inline(p.schema) : { type: 'string', minLength: 1 },
    })),
    ...(spec.query ? queryParameters(spec.query) : []),
    ...(spec.headers ?? []).map((h) => ({ name: h.name, in: 'header', required: h.required, description: h.description, schema: h.schema })),
  ];

  let security: Record<string, string[]>[] | undefined;
  let access: string;
  if (spec.access === 'open' || (spec.access === 'metrics' && !metricsRequireKey)) {
    security = [];
    access = 'Open: no API key.';
  } else if (spec.access === 'signed') {
    security = [{ webhookSignature: [] }];
    access = 'No API key: the request is signed (`X-Signature`).';
  } else if (spec.access === 'metrics') {
    access = 'Needs an API key of any role.';
  } else {
    access = `Needs an API key with the **${spec.access}** role or higher.`;
  }
  // The lowest role of an API key the operation accepts; null when it takes no key.
  const keyRole = requiredRole(spec.access, { metricsRequireKey });

  const answers: Record<string, Json> = {
    ...problemAnswers(problemsOf(spec, metricsRequireKey, oidc)),
    ...Object.fromEntries(Object.entries(spec.answers).map(([status, a]) => [status, answer(a)])),
  };
  return {
    operationId: operationId(key),
    tags: [spec.tag],
    summary: spec.summary,
    description: [access, spec.description].filter(Boolean).join('\n\n'),
    'x-api-key-role': keyRole,
    ...(security ? { security } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: !spec.body.optional,
            description: spec.body.optional ? `${spec.body.description}; an empty body means \`{}\`` : spec.body.description,
            content: {
              'application/json': {
                schema: ref(spec.body.schema),
                ...(spec.body.example !== undefined ? { example: JSON.parse(JSON.stringify(spec.body.example)) } : {}),
              },
            },
          },
        }
      : {}),
    responses: Object.fromEntries(Object.entries(answers).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** `POST /api/workflows/:id/execute` → `postApiWorkflowsIdExecute` */
function operationId(key: string): string {
  const words = key
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
}

const packageVersion = (JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version;

/**
 * Builds the document; `metricsRequireKey` decides whether `GET /metrics` is
 * open, `oidc` whether bearer tokens from an identity provider are accepted
 * beside API keys (OIDC_JWKS_URL set).
 */
export function buildOpenApiDocument({ metricsRequireKey = false, oidc = false }: { metricsRequireKey?: boolean; oidc?: boolean } = {}): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const [key, spec] of Object.entries(OPERATIONS)) {
    const [method, expressPath] = key.split(' ') as [string, string];
    const path = openApiPath(expressPath);
    paths[path] = { ...paths[path], [method.toLowerCase()]: operation(key, spec, metricsRequireKey, oidc) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Workflow automation API',
      version: packageVersion,
      description:
        'Stores workflow definitions, starts runs of them on Temporal, and reports on runs from the Postgres mirror. ' +
        'Every route but the probes and this reference needs an API key, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`; ' +
        'each route names the lowest role it accepts (viewer < operator < admin). Errors are RFC 9457 problems (`application/problem+json`). ' +
        'Request bodies are JSON, at most 1 MB. Answers of 1 KiB or more are compressed (gzip, deflate or br) when `Accept-Encoding` allows.' +
        (oidc
          ? ' This gateway also accepts OIDC access tokens (JWTs from its identity provider) as `Authorization: Bearer <token>`; ' +
            'a token\'s role comes from its roles claim through the configured role map.'
          : ''),
      // The package is private and carries no licence: its use is proprietary.
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    // Relative: the document is served by the gateway it describes, whatever its address.
    servers: [{ url: '/', description: 'the gateway serving this document' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: oidc
            ? 'an API key (`wfa_…`), or an OIDC access token (a JWT signed by the configured identity provider), as a bearer token'
            : 'an API key (`wfa_…`) as a bearer token',
        },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'an API key (`wfa_…`)' },
        webhookSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'webhook-signature',
          description:
            'webhook deliveries only (Standard Webhooks): `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">` with the shared `whsec_` secret, beside `webhook-id` and `webhook-timestamp`; ' +
            'where WEBHOOK_SIGNATURE_SCHEME is legacy or both, `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` instead',
        },
      },
      headers: {
        RequestId: {
          description: "the caller's `X-Request-Id` when it is 1–128 letters, digits, `_`, `.`, `-`; otherwise a new UUID",
          schema: { type: 'string' },
        },
      },
      schemas: componentSchemas(),
    },
  };
}
