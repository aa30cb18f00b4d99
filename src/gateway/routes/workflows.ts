/**
 * Definitions (`/api/workflows`): listing, checking, saving, reading,
 * enabling and deleting them and their versions. Starting runs of one and
 * moving its waiting runs between versions is workflow-runs.ts.
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import {
  createDefinition,
  findDefinition,
  getDefinitionVersion,
  listDefinitions,
  listDefinitionVersions,
  updateDefinition,
} from '../../../db/definitions';
import type { DefinitionRow } from '../../../db/schema';
import { checkConnections } from '../../connections/usage';
import { checkCalls } from '../../executions/calls';
import { DeleteRefusedError, deleteDefinition } from '../../executions/delete-definition';
import { checkSchedule, describeSchedule, scheduleIdFor, syncSchedule } from '../../executions/schedules';
import { inputSchemaProblem } from '../../executions/input-schema';
import { type Definition, definitionSchema, parseDefinition } from '../../shared/definition';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { DEFINITION_ID, documented, LOCATION, named, type Operations, time, uuid } from '../operations';
import { HttpProblem, jsonPath } from '../problem';
import { parseRequest, wholeNumber } from '../validate';

export { MAX_TRIGGER_DEPTH } from '../start-run';

export const listQuery = z.object({
  category: z.string().min(1).optional(),
  enabled: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  q: z.string().min(1).max(200).optional(),
  limit: wholeNumber(1, 200).default(50),
  offset: wholeNumber(0).default(0),
});

/** `DELETE /api/workflows/:id?force=true` cancels the open runs first. */
export const deleteQuery = z
  .object({ force: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true').default(false) })
  .strict();

/** A version number in a path, as `GET /api/workflows/:id/versions/:version` reads it. */
export const versionParam = wholeNumber(1);

/** Definitions are read by `parseDefinition` (which also checks what the schema cannot); the schema describes them. */
const definitionBody = named('Definition', definitionSchema);

const definitionSummarySchema = named(
  'DefinitionSummary',
  z.object({
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
  }),
);

const storedDocument = z.record(z.string(), z.unknown()).meta({ description: 'the definition document, defaults applied' });

const definitionUpdateBody = named(
  'DefinitionUpdate',
  definitionSchema.partial({ key: true }).meta({
    description: 'A complete definition document; `key` may be left out, and any key sent is replaced by the stored one.',
  }),
);
const definitionListSchema = named(
  'DefinitionList',
  z.object({ items: z.array(definitionSummarySchema), total: z.int(), limit: z.int(), offset: z.int() }),
);
const definitionWithDocumentSchema = named(
  'DefinitionWithDocument',
  definitionSummarySchema.extend({ definition: storedDocument }),
);
const definitionDetailSchema = named(
  'DefinitionDetail',
  definitionSummarySchema.extend({
    definition: storedDocument,
    versions: z.array(z.object({ version: z.int(), createdAt: time, createdBy: z.string().nullable() })),
    schedule: z
      .object({ id: z.string(), nextFireTimes: z.array(time), paused: z.boolean(), lastFiredAt: time.nullable() })
      .nullable()
      .optional()
      .meta({ description: "a schedule trigger's Temporal Schedule: its next five firings; null while the definition is disabled" }),
  }),
);
const definitionVersionSchema = named(
  'DefinitionVersion',
  z.object({ id: uuid, key: z.string(), version: z.int(), createdAt: time, definition: storedDocument }),
);
const definitionDeletedSchema = named(
  'DefinitionDeleted',
  definitionSummarySchema.extend({
    deletedAt: time,
    scheduleDeleted: z.boolean().meta({ description: "whether the definition's Temporal Schedule was deleted with it" }),
    cancelledExecutions: z.array(uuid).meta({ description: 'open runs asked to cancel (with `force=true`)' }),
  }),
);
const validationResultSchema = named(
  'ValidationResult',
  z.object({ valid: z.literal(true), definition: storedDocument }),
);

const EXAMPLE_DEFINITION = {
  key: 'order-followup',
  name: 'Order follow-up',
  category: 'orders',
  steps: [
    { id: 'prepare', type: 'set', values: { label: '{{ "Order " & input.orderId }}' } },
    { id: 'thank', type: 'email', to: '{{ input.email }}', subject: 'Thanks for order {{ input.orderId }}', text: 'We are on it.' },
  ],
};

export const workflowOperations = {
  'GET /api/workflows': {
    tag: 'Definitions',
    summary: 'List definitions',
    description: 'Sorted by name.',
    access: 'viewer',
    query: {
      schema: listQuery,
      docs: {
        category: { description: 'exact category', example: 'orders' },
        enabled: { description: 'only enabled (`true`) or disabled (`false`) definitions' },
        q: { description: 'case-insensitive substring of name, key or description', example: 'order' },
        limit: { description: 'page size' },
        offset: { description: 'definitions to skip' },
      },
    },
    answers: { 200: { description: 'a page of definitions', schema: definitionListSchema } },
    problems: ['validation_failed'],
  },
  'POST /api/workflows/validate': {
    tag: 'Definitions',
    summary: 'Check a definition without saving it',
    access: 'admin',
    body: { schema: definitionBody, description: 'a definition document', example: EXAMPLE_DEFINITION },
    answers: { 200: { description: 'valid; the definition with defaults applied', schema: validationResultSchema } },
    problems: ['invalid_definition'],
  },
  'POST /api/workflows': {
    tag: 'Definitions',
    summary: 'Create a definition (version 1)',
    access: 'admin',
    body: { schema: definitionBody, description: 'a definition document', example: EXAMPLE_DEFINITION },
    answers: { 201: { description: 'created', schema: definitionWithDocumentSchema, headers: LOCATION } },
    problems: ['invalid_definition', 'definition_key_taken'],
  },
  'GET /api/workflows/:id': {
    tag: 'Definitions',
    summary: 'One definition, its current document and its versions',
    access: 'viewer',
    params: { id: DEFINITION_ID },
    answers: { 200: { description: 'the definition; versions newest first', schema: definitionDetailSchema } },
    problems: ['not_found'],
  },
  'GET /api/workflows/:id/versions/:version': {
    tag: 'Definitions',
    summary: 'One stored version of a definition',
    access: 'viewer',
    params: { id: DEFINITION_ID, version: { description: 'a version number', schema: versionParam } },
    answers: { 200: { description: 'the version', schema: definitionVersionSchema } },
    problems: ['validation_failed', 'not_found'],
  },
  'PUT /api/workflows/:id': {
    tag: 'Definitions',
    summary: 'Save a new version and make it current',
    description: 'Runs already started stay on their version.',
    access: 'admin',
    params: { id: DEFINITION_ID },
    body: { schema: definitionUpdateBody, description: 'the complete new document', example: { ...EXAMPLE_DEFINITION, key: undefined } },
    answers: { 200: { description: 'saved', schema: definitionWithDocumentSchema } },
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
    answers: { 200: { description: 'deleted', schema: definitionDeletedSchema } },
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
    answers: { 200: { description: 'the definition, enabled', schema: definitionWithDocumentSchema } },
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
    answers: { 200: { description: 'the definition, disabled', schema: definitionWithDocumentSchema } },
    problems: ['not_found', 'definition_invalid'],
  },

} satisfies Operations;

/** A definition as the API answers it: the type of the schema the document states. */
export type DefinitionSummary = z.infer<typeof definitionSummarySchema>;

export function publicDefinition(row: DefinitionRow): DefinitionSummary {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    category: row.category,
    enabled: row.enabled,
    templateKey: row.template_key,
    triggerType: documented(definitionSummarySchema.shape.triggerType.options, row.trigger_type, `the trigger type of definition ${row.key}`),
    version: row.current_version,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Parses and checks a definition, including what needs the database (called definitions, named connections). */
async function parseDefinitionOr400(db: RouteDeps['db'], body: unknown) {
  const parsed = parseDefinition(body, { newVersion: true });
  const schemaProblem = parsed.ok && parsed.definition.inputSchema ? inputSchemaProblem(parsed.definition.inputSchema) : undefined;
  const callProblems = parsed.ok
    ? [...checkSchedule(parsed.definition), ...(await checkCalls(db, parsed.definition)), ...(await checkConnections(db, parsed.definition))]
    : [];
  if (parsed.ok && !schemaProblem && callProblems.length === 0) return parsed.definition;
  const problems = parsed.ok
    ? [...(schemaProblem ? [{ path: ['inputSchema'], message: `is not a valid JSON Schema: ${schemaProblem}` }] : []), ...callProblems]
    : parsed.problems;
  const fields = problems.map((p) => ({ path: jsonPath(p.path), message: p.message }));
  throw new HttpProblem(
    'invalid_definition',
    `the definition has ${fields.length} problem(s): ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`,
    fields,
  );
}

/**
 * The definition, as kept by the app's lookups for reads and starts; `fresh`
 * reads the database, for a change made from what it holds.
 */
export async function loadDefinition(
  { db, lookups }: Pick<RouteDeps, 'db' | 'lookups'>,
  idOrKey: string,
  { fresh = false } = {},
): Promise<DefinitionRow> {
  const row = fresh ? await findDefinition(db, idOrKey) : await lookups.definition(idOrKey);
  if (!row) throw new HttpProblem('not_found', `no workflow definition has id or key "${idOrKey}"`);
  return row;
}

export function workflowRoutes(deps: RouteDeps): Router {
  const { db } = deps;
  const { router, serve } = declaredRouter(workflowOperations);

  /**
   * Brings the definition's Temporal Schedule in line with it. The definition
   * is saved either way; a failed sync is reported in the answer, and saving
   * again retries it.
   */
  async function scheduleOf(row: DefinitionRow, definition: Definition) {
    if (definition.trigger.type !== 'schedule' && row.current_version === 1) return {};
    try {
      return { schedule: { id: scheduleIdFor(row.key), sync: await syncSchedule(deps.temporal.client, deps.config, row, definition) } };
    } catch (err) {
      deps.logger.warn({ err, definition: row.key }, 'could not sync the schedule');
      return { schedule: { id: scheduleIdFor(row.key), sync: 'failed', error: (err as Error).message } };
    }
  }

  serve('GET /api/workflows', async (req, res) => {
    const query = parseRequest(listQuery, req.query, 'query');
    const { items, total } = await listDefinitions(db, {
      category: query.category,
      enabled: query.enabled,
      text: query.q,
      limit: query.limit,
      offset: query.offset,
    });
    res.json({ items: items.map(publicDefinition), total, limit: query.limit, offset: query.offset });
  });

  serve('POST /api/workflows/validate', async (req, res) => {
    const definition = await parseDefinitionOr400(db, req.body);
    res.json({ valid: true, definition });
  });

  serve('POST /api/workflows', async (req, res) => {
    const definition = await parseDefinitionOr400(db, req.body);
    const holder = await findDefinition(db, definition.key, { includeDeleted: true });
    if (holder) {
      // Keys of deleted definitions stay taken: old runs' workflow ids and idempotency keys are made from them.
      const message = holder.deleted_at
        ? `a deleted definition used key "${definition.key}"; keys are not reused, choose another`
        : `a definition with key "${definition.key}" already exists`;
      throw new HttpProblem('definition_key_taken', message, [{ path: '$.key', message: 'is already taken' }]);
    }
    const row = await createDefinition(db, definition);
    deps.lookups.forget('workflow_definitions');
    const schedule = await scheduleOf(row, definition);
    res.status(201).location(`/api/workflows/${row.id}`).json({ ...publicDefinition(row), definition, ...schedule });
  });

  serve('GET /api/workflows/:id', async (req, res) => {
    const row = await loadDefinition(deps, req.params.id);
    const [current, versions, schedule] = await Promise.all([
      getDefinitionVersion(db, row.id, row.current_version),
      listDefinitionVersions(db, row.id),
      // A schedule trigger's next firings, as Temporal has them; a Temporal that does not answer leaves them out.
      row.trigger_type === 'schedule'
        ? describeSchedule(deps.temporal.client, row.key).catch((err: unknown) => {
            deps.logger.warn({ err, definition: row.key }, 'could not describe the schedule');
            return undefined;
          })
        : Promise.resolve(undefined),
    ]);
    res.json({
      ...publicDefinition(row),
      definition: current?.document,
      versions: versions.map((v) => ({ version: v.version, createdAt: v.created_at, createdBy: v.created_by })),
      ...(schedule !== undefined ? { schedule } : {}),
    });
  });

  serve('GET /api/workflows/:id/versions/:version', async (req, res) => {
    const row = await loadDefinition(deps, req.params.id);
    const version = parseRequest(versionParam, req.params.version, 'version');
    const stored = await getDefinitionVersion(db, row.id, version);
    if (!stored) throw new HttpProblem('not_found', `definition "${row.key}" has no version ${version}`);
    res.json({ id: row.id, key: row.key, version, createdAt: stored.created_at, definition: stored.document });
  });

  serve('PUT /api/workflows/:id', async (req, res) => {
    const row = await loadDefinition(deps, req.params.id, { fresh: true });
    const definition = await parseDefinitionOr400(db, { ...req.body, key: row.key });
    const updated = await updateDefinition(db, row.id, definition);
    deps.lookups.forget('workflow_definitions');
    if (!updated) throw new HttpProblem('not_found', `no workflow definition has id "${row.id}"`);
    const schedule = await scheduleOf(updated, definition);
    res.json({ ...publicDefinition(updated), definition, ...schedule });
  });

  /**
   * Deletes the definition (see executions/delete-definition.ts): refused with
   * 409 while runs are open, unless `?force=true` cancels them first.
   */
  serve('DELETE /api/workflows/:id', async (req, res) => {
    const { force } = parseRequest(deleteQuery, req.query, 'query');
    const row = await loadDefinition(deps, req.params.id, { fresh: true });
    try {
      const deleted = await deleteDefinition({ db, client: deps.temporal.client }, row, { force });
      deps.lookups.forget('workflow_definitions');
      res.json({
        ...publicDefinition(deleted.row),
        deletedAt: deleted.row.deleted_at,
        scheduleDeleted: deleted.scheduleDeleted,
        cancelledExecutions: deleted.cancelledExecutionIds,
      });
    } catch (err) {
      if (err instanceof DeleteRefusedError) {
        const fields = err.code === 'definition_has_open_runs' ? [{ path: '$.query.force', message: 'is needed to delete a definition with open runs' }] : [];
        throw new HttpProblem(err.code, err.message, fields);
      }
      throw err;
    }
  });

  /**
   * Enables or disables the definition: a new version with `enabled` changed,
   * as `PUT` with `enabled` would save, and the schedule brought in line
   * (removed while disabled). Asking for the state it is in changes nothing.
   */
  const setEnabled = (enabled: boolean) => async (req: Request<{ id: string }>, res: Response) => {
    const row = await loadDefinition(deps, req.params.id, { fresh: true });
    const stored = await getDefinitionVersion(db, row.id, row.current_version);
    const parsed = parseDefinition(stored?.document);
    if (!parsed.ok) {
      throw new HttpProblem('definition_invalid', `stored definition "${row.key}" v${row.current_version} no longer validates; save a new version with PUT`);
    }
    let current = row;
    if (row.enabled !== enabled) {
      const updated = await updateDefinition(db, row.id, { ...parsed.definition, enabled });
      deps.lookups.forget('workflow_definitions');
      if (!updated) throw new HttpProblem('not_found', `no workflow definition has id "${row.id}"`);
      current = updated;
    }
    const definition = { ...parsed.definition, enabled: current.enabled };
    const schedule = await scheduleOf(current, definition);
    res.json({ ...publicDefinition(current), definition, ...schedule });
  };
  serve('POST /api/workflows/:id/enable', setEnabled(true));
  serve('POST /api/workflows/:id/disable', setEnabled(false));

  return router;
}
