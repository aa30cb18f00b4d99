/**
 * The gateway's OpenAPI 3.1 document, served at `GET /api/openapi.json` and
 * rendered at `/api/docs`.
 *
 * Request bodies, query strings and path parameters are described by the
 * very zod schemas the routes validate with, converted by `z.toJSONSchema`,
 * so the document follows the routes as they change; refinements, which JSON
 * Schema cannot express, are named in descriptions (`x-rules`). Answers are
 * described by the schemas below, which the tests check real answers against.
 */
import { createRequire } from 'node:module';
import { z } from 'zod';
import { IDEMPOTENCY_KEY_PATTERN } from '../executions/start';
import { definitionSchema, STEP_SCHEMAS, STEP_TYPES, stepSchema } from '../shared/definition';
import { isRole } from '../shared/roles';
import { PROBLEM_CODES, type ProblemCode } from './problem';
import { type Answer, apiSchemas, DEFINITION_ID, LOCATION, named, type Operation, type Operations, TAGS } from './operations';
import { approvalOperations } from './routes/approvals';
import { executionOperations } from './routes/executions';
import { recoveryOperations } from './routes/recovery';
import { migrateRequest } from '../executions/migration';
import { outboxOperations } from './routes/outbox';
import { reportOperations } from './routes/reports';
import { codecOperations } from './routes/codec';
import { docsOperations } from './routes/docs';
import { healthOperations } from './routes/health';
import { keyOperations } from './routes/keys';
import { metricsOperations } from './routes/metrics';
import { sessionOperations } from './routes/session';
import { deleteQuery, executeBody, listQuery as definitionListQuery, versionParam } from './routes/workflows';
import { hookOperations } from './routes/hooks';
import { runStartedSchema } from './start-run';

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

const time = z.iso.datetime({ offset: true });
const uuid = z.uuid();

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

const definitionSummarySchema = z.object({
  id: uuid,
  key: z.string(),
  name: z.string(),
  description: z.string(),
  category: z.string(),
  enabled: z.boolean(),
  templateKey: z.string().nullable(),
  triggerType: z.enum(['manual', 'webhook', 'schedule']),
  version: z.int().min(1).meta({ description: 'the current version' }),
  createdBy: z.string().nullable().meta({ description: '`"seed"` for definitions installed from templates, null through the API' }),
  createdAt: time,
  updatedAt: time,
});

const storedDocument = z.record(z.string(), z.unknown()).meta({ description: 'the definition document, defaults applied' });

/** Named schemas, as `components.schemas`. Request schemas are the routes' own. */
const COMPONENTS = {
  Problem: problemSchema,
  ProblemField: problemFieldSchema,
  // Requests
  Definition: definitionSchema,
  DefinitionUpdate: definitionSchema.partial({ key: true }).meta({
    description: 'A complete definition document; `key` may be left out, and any key sent is replaced by the stored one.',
  }),
  Step: stepSchema,
  ...Object.fromEntries(STEP_TYPES.map((type) => [stepComponentName(type), STEP_SCHEMAS[type]])),
  ExecuteRequest: executeBody,
  MigrateRequest: migrateRequest,
  DefinitionSummary: definitionSummarySchema,
  DefinitionList: z.object({ items: z.array(definitionSummarySchema), total: z.int(), limit: z.int(), offset: z.int() }),
  DefinitionWithDocument: definitionSummarySchema.extend({ definition: storedDocument }),
  DefinitionDetail: definitionSummarySchema.extend({
    definition: storedDocument,
    versions: z.array(z.object({ version: z.int(), createdAt: time, createdBy: z.string().nullable() })),
    schedule: z
      .object({ id: z.string(), nextFireTimes: z.array(time), paused: z.boolean(), lastFiredAt: time.nullable() })
      .nullable()
      .optional()
      .meta({ description: "a schedule trigger's Temporal Schedule: its next five firings; null while the definition is disabled" }),
  }),
  DefinitionVersion: z.object({ id: uuid, key: z.string(), version: z.int(), createdAt: time, definition: storedDocument }),
  DefinitionDeleted: definitionSummarySchema.extend({
    deletedAt: time,
    scheduleDeleted: z.boolean().meta({ description: "whether the definition's Temporal Schedule was deleted with it" }),
    cancelledExecutions: z.array(uuid).meta({ description: 'open runs asked to cancel (with `force=true`)' }),
  }),
  ValidationResult: z.object({ valid: z.literal(true), definition: storedDocument }),
  MigrationResult: z.object({
    definitionId: uuid,
    fromVersion: z.int(),
    toVersion: z.int(),
    dryRun: z.boolean(),
    total: z.int().meta({ description: 'open runs of the old version looked at (at most `limit`, oldest first)' }),
    more: z.boolean().meta({ description: 'more open runs of the old version are past the limit' }),
    movable: z.int(),
    moved: z.int(),
    refused: z.int(),
    runs: z.array(
      z.object({
        executionId: uuid,
        workflowId: z.string(),
        waitingAt: z.string().nullable().meta({ description: 'the top-level step it waits at now' }),
        waitingType: z.string().nullable(),
        continuesAt: z.string().optional().meta({ description: 'the step of the new version it goes on at' }),
        continuesType: z.string().optional(),
        notRun: z.array(z.string()).meta({ description: 'steps of the new version before that one which the run never ran: they will not run' }),
        passedRemoved: z.array(z.string()).meta({ description: 'steps the run passed that the new version no longer has' }),
        stepChanged: z.boolean().meta({ description: 'the step it goes on at differs in the new version' }),
        refused: z.string().optional().meta({ description: 'why it cannot (or did not) move' }),
        outcome: z.enum(['MOVED', 'REFUSED']).optional().meta({ description: 'after a real move' }),
      }),
    ),
  }),
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


const EXAMPLE_DEFINITION = {
  key: 'order-followup',
  name: 'Order follow-up',
  category: 'orders',
  steps: [
    { id: 'prepare', type: 'set', values: { label: '{{ "Order " & input.orderId }}' } },
    { id: 'thank', type: 'email', to: '{{ input.email }}', subject: 'Thanks for order {{ input.orderId }}', text: 'We are on it.' },
  ],
};

/** Every route the gateway declares, keyed by method and Express path. */
const TABLE: Operations = {
  'GET /api/workflows': {
    tag: 'Definitions',
    summary: 'List definitions',
    description: 'Sorted by name.',
    access: 'viewer',
    query: {
      schema: definitionListQuery,
      docs: {
        category: { description: 'exact category', example: 'orders' },
        enabled: { description: 'only enabled (`true`) or disabled (`false`) definitions' },
        q: { description: 'case-insensitive substring of name, key or description', example: 'order' },
        limit: { description: 'page size' },
        offset: { description: 'definitions to skip' },
      },
    },
    answers: { 200: { description: 'a page of definitions', schema: COMPONENTS.DefinitionList } },
    problems: ['validation_failed'],
  },
  'POST /api/workflows/validate': {
    tag: 'Definitions',
    summary: 'Check a definition without saving it',
    access: 'admin',
    body: { schema: COMPONENTS.Definition, description: 'a definition document', example: EXAMPLE_DEFINITION },
    answers: { 200: { description: 'valid; the definition with defaults applied', schema: COMPONENTS.ValidationResult } },
    problems: ['invalid_definition'],
  },
  'POST /api/workflows': {
    tag: 'Definitions',
    summary: 'Create a definition (version 1)',
    access: 'admin',
    body: { schema: COMPONENTS.Definition, description: 'a definition document', example: EXAMPLE_DEFINITION },
    answers: { 201: { description: 'created', schema: COMPONENTS.DefinitionWithDocument, headers: LOCATION } },
    problems: ['invalid_definition', 'definition_key_taken'],
  },
  'GET /api/workflows/:id': {
    tag: 'Definitions',
    summary: 'One definition, its current document and its versions',
    access: 'viewer',
    params: { id: DEFINITION_ID },
    answers: { 200: { description: 'the definition; versions newest first', schema: COMPONENTS.DefinitionDetail } },
    problems: ['not_found'],
  },
  'GET /api/workflows/:id/versions/:version': {
    tag: 'Definitions',
    summary: 'One stored version of a definition',
    access: 'viewer',
    params: { id: DEFINITION_ID, version: { description: 'a version number', schema: versionParam } },
    answers: { 200: { description: 'the version', schema: COMPONENTS.DefinitionVersion } },
    problems: ['validation_failed', 'not_found'],
  },
  'PUT /api/workflows/:id': {
    tag: 'Definitions',
    summary: 'Save a new version and make it current',
    description: 'Runs already started stay on their version.',
    access: 'admin',
    params: { id: DEFINITION_ID },
    body: { schema: COMPONENTS.DefinitionUpdate, description: 'the complete new document', example: { ...EXAMPLE_DEFINITION, key: undefined } },
    answers: { 200: { description: 'saved', schema: COMPONENTS.DefinitionWithDocument } },
    problems: ['invalid_definition', 'not_found'],
  },
  'DELETE /api/workflows/:id': {
    tag: 'Definitions',
    summary: 'Delete a definition',
    description:
      'A soft delete: the definition disappears from every route (list, read, execute, webhooks, `call` steps) and its Temporal Schedule is deleted, ' +
      'while its versions and its runs stay for reports (`GET /api/executions?definition=<id>` still finds them). Its key is not reused. ' +
      'Refused with 409 while runs are open (PENDING or RUNNING) unless `force=true`, which asks each open run to cancel first: ' +
      'the step in progress is cancelled and the run records itself `CANCELLED`.',
    access: 'admin',
    params: { id: DEFINITION_ID },
    query: {
      schema: deleteQuery,
      docs: { force: { description: '`true` cancels open runs and deletes; without it, open runs refuse the deletion' } },
    },
    answers: { 200: { description: 'deleted', schema: COMPONENTS.DefinitionDeleted } },
    problems: ['validation_failed', 'not_found', 'definition_has_open_runs', 'temporal_unavailable'],
  },
  'POST /api/workflows/:id/enable': {
    tag: 'Definitions',
    summary: 'Enable a definition',
    description:
      'Saves a new version with `enabled: true` (as `PUT` would) and creates its Temporal Schedule if its trigger is a schedule. ' +
      'Idempotent: an enabled definition is answered as it is. No body.',
    access: 'admin',
    params: { id: DEFINITION_ID },
    answers: { 200: { description: 'the definition, enabled', schema: COMPONENTS.DefinitionWithDocument } },
    problems: ['not_found', 'definition_invalid'],
  },
  'POST /api/workflows/:id/disable': {
    tag: 'Definitions',
    summary: 'Disable a definition',
    description:
      'Saves a new version with `enabled: false` (as `PUT` would): no new runs start, by any trigger, and its Temporal Schedule is removed. ' +
      'Runs already started go on. Idempotent: a disabled definition is answered as it is. No body.',
    access: 'admin',
    params: { id: DEFINITION_ID },
    answers: { 200: { description: 'the definition, disabled', schema: COMPONENTS.DefinitionWithDocument } },
    problems: ['not_found', 'definition_invalid'],
  },
  'POST /api/workflows/:id/execute': {
    tag: 'Runs',
    summary: "Start a run of the definition's current version",
    description:
      "The workflow id is `<definition key>-<executionId>`. With an `Idempotency-Key`, the same key for the same definition answers the run it first started (200, `idempotentReplay: true`).",
    access: 'operator',
    params: { id: DEFINITION_ID },
    headers: [
      {
        name: 'Idempotency-Key',
        required: false,
        description: 'makes retrying the request safe: the same key starts no second run',
        schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
      },
    ],
    body: {
      schema: COMPONENTS.ExecuteRequest,
      description:
        "`triggerData` is the run's `input`; it must match the definition's `inputSchema`, if any. `timeout` gives this run a deadline (it ends TIMED_OUT), no longer than the definition's `timeout`",
      optional: true,
      example: { triggerData: { orderId: 'SO-1', email: 'ada.lovelace@example.com' } },
    },
    answers: {
      202: { description: 'the run is accepted; it has not finished', schema: runStartedSchema, headers: LOCATION },
      200: { description: 'an earlier request with this Idempotency-Key started the run', schema: runStartedSchema, headers: LOCATION },
    },
    problems: ['validation_failed', 'not_found', 'definition_disabled', 'definition_invalid', 'definition_version_missing', 'temporal_unavailable'],
  },
  'POST /api/workflows/:id/migrate': {
    tag: 'Recovery',
    summary: 'Move waiting runs onto another version of the definition',
    description:
      'Takes the open runs of `fromVersion` (oldest first, up to `limit`) that wait at a top-level `approval`, `delay` or `wait_for_signal` step, and moves each onto `toVersion` at the step it waits on: the same id, or the one `stepMap` names. ' +
      'The run continues as new on the new version with its variables, the outputs of the steps it passed and its undelivered events; steps before that one in the new version do not run; the wait goes on from when it began (a delay ends when it would on the new duration, an approval keeps its decisions). ' +
      'A run whose waiting step has no counterpart, that is busy, or that does not wait is refused, with the reason, and the others move. `"dryRun": true` answers the plan per run and changes nothing. The mirror row\'s version follows; the move is recorded in the audit log and in each run\'s step log (`MIGRATED`).',
    access: 'admin',
    params: { id: DEFINITION_ID },
    body: {
      schema: COMPONENTS.MigrateRequest,
      description: 'from which version to which, and why',
      example: { fromVersion: 3, toVersion: 4, stepMap: { approve: 'manager-approval' }, reason: 'approvals now go to the manager', dryRun: true },
    },
    answers: { 200: { description: 'the plan (dry run) or what was done, per run', schema: COMPONENTS.MigrationResult } },
    problems: ['validation_failed', 'not_found', 'nothing_matched', 'temporal_unavailable'],
  },
};

/** Every route the gateway declares, keyed by method and Express path. */
export const OPERATIONS: Operations = { ...TABLE, ...healthOperations, ...metricsOperations, ...docsOperations, ...sessionOperations, ...keyOperations, ...outboxOperations, ...codecOperations, ...approvalOperations, ...hookOperations, ...reportOperations, ...recoveryOperations, ...executionOperations };

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
  const keyed = isRole(spec.access) || (spec.access === 'metrics' && metricsRequireKey);
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
  const keyRole = isRole(spec.access) ? spec.access : spec.access === 'metrics' && metricsRequireKey ? 'viewer' : null;

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

const packageVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

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
