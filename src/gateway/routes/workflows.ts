/** Definitions (`/api/workflows`) and starting runs of them. */
import { type Request, type Response, Router } from 'express';
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
import { checkCalls } from '../../executions/calls';
import { DeleteRefusedError, deleteDefinition } from '../../executions/delete-definition';
import { checkSchedule, describeSchedule, scheduleIdFor, syncSchedule } from '../../executions/schedules';
import { inputSchemaProblem } from '../../executions/input-schema';
import { migrateRequest, migrateWaitingRuns } from '../../executions/migration';
import { type Definition, parseDefinition, runTimeoutSchema } from '../../shared/definition';
import { parseDuration } from '../../shared/duration';
import { requireRole } from '../auth';
import type { RouteDeps } from '../context';
import { HttpProblem, jsonPath } from '../problem';
import { idempotencyHeader, startAndAnswer, triggerDataSchema } from '../start-run';
import { parseRequest, wholeNumber } from '../validate';
import { actorOf, refusal } from './recovery';

export { MAX_TRIGGER_DEPTH } from '../start-run';

export const listQuery = z.object({
  category: z.string().min(1).optional(),
  enabled: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  q: z.string().min(1).max(200).optional(),
  limit: wholeNumber(1, 200).default(50),
  offset: wholeNumber(0).default(0),
});

export const executeBody = z
  .object({
    triggerData: triggerDataSchema.default({}),
    /** A deadline for this run, shorter than the definition's `timeout` if it has one. */
    timeout: runTimeoutSchema.optional(),
  })
  .strict();

/** `DELETE /api/workflows/:id?force=true` cancels the open runs first. */
export const deleteQuery = z
  .object({ force: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true').default(false) })
  .strict();

/** A version number in a path, as `GET /api/workflows/:id/versions/:version` reads it. */
export const versionParam = wholeNumber(1);

export function publicDefinition(row: DefinitionRow) {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    category: row.category,
    enabled: row.enabled,
    templateKey: row.template_key,
    triggerType: row.trigger_type,
    version: row.current_version,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Parses and checks a definition, including what needs the database (called definitions). */
async function parseDefinitionOr400(db: RouteDeps['db'], body: unknown) {
  const parsed = parseDefinition(body, { newVersion: true });
  const schemaProblem = parsed.ok && parsed.definition.inputSchema ? inputSchemaProblem(parsed.definition.inputSchema) : undefined;
  const callProblems = parsed.ok ? [...checkSchedule(parsed.definition), ...(await checkCalls(db, parsed.definition))] : [];
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

export function workflowRoutes(deps: RouteDeps): Router {
  const { db } = deps;
  const router = Router();

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

  /**
   * The definition, as kept by the app's lookups for reads and starts; `fresh`
   * reads the database, for a change made from what it holds.
   */
  async function loadDefinition(idOrKey: string, { fresh = false } = {}): Promise<DefinitionRow> {
    const row = fresh ? await findDefinition(db, idOrKey) : await deps.lookups.definition(idOrKey);
    if (!row) throw new HttpProblem('not_found', `no workflow definition has id or key "${idOrKey}"`);
    return row;
  }

  router.get('/api/workflows', requireRole('viewer'), async (req, res) => {
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

  router.post('/api/workflows/validate', requireRole('admin'), async (req, res) => {
    const definition = await parseDefinitionOr400(db, req.body);
    res.json({ valid: true, definition });
  });

  router.post('/api/workflows', requireRole('admin'), async (req, res) => {
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

  router.get('/api/workflows/:id', requireRole('viewer'), async (req, res) => {
    const row = await loadDefinition(req.params.id);
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

  router.get('/api/workflows/:id/versions/:version', requireRole('viewer'), async (req, res) => {
    const row = await loadDefinition(req.params.id);
    const version = parseRequest(versionParam, req.params.version, 'version');
    const stored = await getDefinitionVersion(db, row.id, version);
    if (!stored) throw new HttpProblem('not_found', `definition "${row.key}" has no version ${version}`);
    res.json({ id: row.id, key: row.key, version, createdAt: stored.created_at, definition: stored.document });
  });

  router.put('/api/workflows/:id', requireRole('admin'), async (req, res) => {
    const row = await loadDefinition(req.params.id, { fresh: true });
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
  router.delete('/api/workflows/:id', requireRole('admin'), async (req, res) => {
    const { force } = parseRequest(deleteQuery, req.query, 'query');
    const row = await loadDefinition(req.params.id, { fresh: true });
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
    const row = await loadDefinition(req.params.id, { fresh: true });
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
  router.post('/api/workflows/:id/enable', requireRole('admin'), setEnabled(true));
  router.post('/api/workflows/:id/disable', requireRole('admin'), setEnabled(false));

  /**
   * Starts a run of the definition's current version. With an `Idempotency-Key`
   * header, the same key for the same definition answers the run it first
   * started (200, `idempotentReplay: true`) instead of starting another.
   */
  router.post('/api/workflows/:id/execute', requireRole('operator'), async (req, res) => {
    const body = parseRequest(executeBody, req.body ?? {}, 'body');
    const idempotencyKey = idempotencyHeader(req, 'Idempotency-Key');
    const row = await loadDefinition(req.params.id);
    await startAndAnswer(deps, res, row, {
      triggerData: body.triggerData,
      triggerType: 'manual',
      idempotencyKey,
      dataPath: '$.body.triggerData',
      timeoutMs: body.timeout === undefined ? undefined : parseDuration(body.timeout),
    });
  });

  /**
   * Moves the definition's runs waiting at a top-level approval, delay or
   * wait_for_signal step from one version to another, at the step they wait
   * on (src/executions/migration.ts). A dry run answers the plan per run.
   */
  router.post('/api/workflows/:id/migrate', requireRole('admin'), async (req, res) => {
    const body = parseRequest(migrateRequest, req.body ?? {}, 'body');
    const row = await loadDefinition(req.params.id, { fresh: true });
    try {
      res.json(await migrateWaitingRuns({ db, client: deps.temporal.client }, row, body, actorOf(res)));
    } catch (err) {
      throw refusal(err) ?? err;
    }
  });

  return router;
}
