/**
 * Bulk recovery and the audit trail: `POST /api/executions/bulk/reset` and
 * `…/bulk/replay` (dry run or batch), `/api/batches` (progress, cancel) and
 * `/api/audit`. Mounted before the executions routes, whose
 * `/api/executions/:id/…` would otherwise take `bulk` for an id.
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import {
  type Actor,
  batchProgress,
  bulkRequest,
  cancelBatch,
  createBatch,
  listBatches,
  previewBulk,
  RecoveryRefused,
  recordAudit,
} from '../../executions/recovery';
import type { RecoveryAction } from '../../../db/schema';
import { callerOf } from '../auth';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations, time, uuid } from '../operations';
import { HttpProblem, PROBLEM_CODES, type ProblemCode } from '../problem';
import { parseRequest, wholeNumber } from '../validate';

/** The bulk request, as src/executions/recovery.ts reads it, named in the document. */
const bulkRecoveryRequest = named('BulkRecoveryRequest', bulkRequest);

export const cancelBatchBody = named(
  'CancelBatchRequest',
  z.object({ reason: z.string().trim().min(1, 'say why the batch is cancelled').max(500) }).strict(),
);

export const auditQuery = z
  .object({
    /** Entries about one execution or batch. */
    target: z.string().min(1).max(200).optional(),
    /** Entries older than this id, for the next page. */
    before: wholeNumber(1).optional(),
    limit: wholeNumber(1, 500).default(100),
  })
  .strict();

export const batchesQuery = z.object({ limit: wholeNumber(1, 200).default(50) }).strict();

const batchSchema = named(
  'Batch',
  z.object({
    id: uuid,
    action: z.enum(['reset', 'replay']),
    resetTo: z.enum(['failed-step', 'start']).nullable(),
    status: z.enum(['RUNNING', 'COMPLETED', 'CANCELLED']),
    reason: z.string(),
    requestedBy: z.string(),
    filter: z.record(z.string(), z.unknown()),
    concurrency: z.int(),
    total: z.int(),
    createdAt: time,
    finishedAt: time.nullable(),
    workflowId: z.string().meta({ description: "the batch's own Temporal workflow" }),
  }),
);

const bulkPreviewSchema = named(
  'BulkPreview',
  z.object({
    dryRun: z.literal(true),
    action: z.enum(['reset', 'replay']),
    matched: z.int().meta({ description: 'runs the filter matches' }),
    groups: z.array(
      z.object({ definitionKey: z.string(), definitionVersion: z.int(), failedStep: z.string().nullable(), errorType: z.string().nullable(), count: z.int() }),
    ),
    runs: z.array(
      z.object({
        executionId: uuid,
        workflowId: z.string(),
        runId: z.string().nullable(),
        definitionKey: z.string(),
        definitionVersion: z.int(),
        status: z.string(),
        error: z.string().nullable(),
        failedStep: z.string().nullable(),
        errorType: z.string().nullable(),
        startedAt: time,
        action: z.string().meta({ description: 'what the batch would do to the run' }),
        refused: z.string().optional().meta({ description: 'why it would skip the run' }),
        delivered: z
          .array(z.object({ stepPath: z.string(), channel: z.string(), recipient: z.string().nullable() }))
          .meta({ description: 'deliveries the ledger shows made: a reset does not send them again; a replay does' }),
      }),
    ),
  }),
);
const batchAcceptedSchema = named(
  'BatchAccepted',
  z.object({ batchId: uuid, total: z.int(), status: z.literal('RUNNING'), statusUrl: z.string() }),
);
const batchListSchema = named(
  'BatchList',
  z.object({ items: z.array(batchSchema) }),
);
const batchProgressSchema = named(
  'BatchProgress',
  batchSchema.extend({
    pending: z.int(),
    working: z.int(),
    done: z.int(),
    failed: z.int(),
    skipped: z.int(),
    problems: z
      .array(z.object({ executionId: uuid, outcome: z.enum(['FAILED', 'SKIPPED']), detail: z.string().nullable() }))
      .meta({ description: 'each run failed or skipped, with the reason (the first 500)' }),
  }),
);
const batchCancellingSchema = named(
  'BatchCancelling',
  z.object({ batchId: uuid, status: z.literal('CANCELLING'), statusUrl: z.string() }),
);
const auditListSchema = named(
  'AuditList',
  z.object({
    items: z.array(
      z.object({
        id: z.int(),
        at: time,
        actor: z.string(),
        viaKey: z.string().nullable(),
        action: z.string().meta({ description: 'execution.reset, execution.replay, batch.reset, batch.replay, batch.cancel or definition.migrate' }),
        target: z.string().meta({ description: 'the execution or batch acted on' }),
        reason: z.string().nullable(),
        filter: z.record(z.string(), z.unknown()).nullable(),
        outcome: z.record(z.string(), z.unknown()),
      }),
    ),
    nextBefore: z.int().nullable().meta({ description: 'pass it back as `before` for older entries; null on the last page' }),
  }),
);

export const recoveryOperations = {
  'POST /api/executions/bulk/reset': {
    tag: 'Recovery',
    summary: 'Reset every failed run a filter matches, or see what that would do',
    description:
      'The filter takes closed runs by definition, version, failed step, error type, error text, status and start time (a definition or `from` is required). ' +
      'With `"dryRun": true` nothing changes: the answer counts the matching runs, groups them by version × failed step × error type, and describes a page of them (where each goes on, which deliveries the ledger shows made and so will not be sent again). ' +
      'Otherwise a batch is created of the runs matching now and worked through by a Temporal workflow of its own, `concurrency` at a time; follow it at `statusUrl`. ' +
      'A run another batch acted on is skipped; a run that cannot be reset is recorded as failed and the batch goes on. Recorded in the audit log.',
    access: 'admin',
    body: {
      schema: bulkRecoveryRequest,
      description: 'which runs, why, and whether to act',
      example: { filter: { definition: 'order-followup', failedStep: 'notify', errorType: 'ProviderUnavailable' }, reason: 'SMTP relay back up', dryRun: true },
    },
    answers: {
      200: { description: 'the dry run: what would happen', schema: bulkPreviewSchema },
      202: { description: 'the batch is under way', schema: batchAcceptedSchema },
    },
    problems: ['validation_failed', 'nothing_matched', 'temporal_unavailable'],
  },
  'POST /api/executions/bulk/replay': {
    tag: 'Recovery',
    summary: 'Replay every closed run a filter matches, or see what that would do',
    description:
      'As the bulk reset, but each run is replayed: a new execution of the version it pinned with its trigger data, every step (and message) again. A run replayed by another batch is skipped. Recorded in the audit log.',
    access: 'admin',
    body: {
      schema: bulkRecoveryRequest,
      description: 'which runs, why, and whether to act',
      example: { filter: { definition: 'order-followup', status: ['FAILED', 'TIMED_OUT'], from: '2026-11-25T00:00:00Z' }, reason: 'bad version 3 fixed in 4', dryRun: true },
    },
    answers: {
      200: { description: 'the dry run: what would happen', schema: bulkPreviewSchema },
      202: { description: 'the batch is under way', schema: batchAcceptedSchema },
    },
    problems: ['validation_failed', 'nothing_matched', 'temporal_unavailable'],
  },
  'GET /api/batches': {
    tag: 'Recovery',
    summary: 'List recovery batches, newest first',
    access: 'viewer',
    query: { schema: batchesQuery, docs: { limit: { description: 'how many' } } },
    answers: { 200: { description: 'the batches', schema: batchListSchema } },
    problems: ['validation_failed'],
  },
  'GET /api/batches/:id': {
    tag: 'Recovery',
    summary: "A batch's progress",
    description: 'Counts by outcome (pending, working, done, failed, skipped) and every failed or skipped run with the reason.',
    access: 'viewer',
    params: { id: { description: "the batch's id (UUID)" } },
    answers: { 200: { description: 'the batch', schema: batchProgressSchema } },
    problems: ['not_found'],
  },
  'POST /api/batches/:id/cancel': {
    tag: 'Recovery',
    summary: 'Stop a batch',
    description: 'Runs not begun are skipped; those in hand finish. The batch ends `CANCELLED`. Recorded in the audit log.',
    access: 'admin',
    params: { id: { description: "the batch's id (UUID)" } },
    body: { schema: cancelBatchBody, description: 'why', example: { reason: 'wrong filter' } },
    answers: { 202: { description: 'cancellation requested', schema: batchCancellingSchema } },
    problems: ['validation_failed', 'not_found', 'batch_finished'],
  },
  'GET /api/audit': {
    tag: 'Recovery',
    summary: 'The audit log: every reset, replay and batch, newest first',
    access: 'admin',
    query: {
      schema: auditQuery,
      docs: {
        target: { description: 'entries about one execution or batch (its id)' },
        before: { description: '`nextBefore` of the previous page' },
        limit: { description: 'page size' },
      },
    },
    answers: { 200: { description: 'a page of entries', schema: auditListSchema } },
    problems: ['validation_failed'],
  },

} satisfies Operations;

/** The caller as the records name it. */
export function actorOf(res: Response): Actor {
  const caller = callerOf(res);
  return { name: caller?.name ?? 'unknown', keyId: caller?.id };
}

/** A refusal from src/executions as the API's problem. */
export function refusal(err: unknown): HttpProblem | undefined {
  if (!(err instanceof RecoveryRefused)) return undefined;
  const code = (err.code in PROBLEM_CODES ? err.code : 'reset_refused') as ProblemCode;
  return new HttpProblem(code, err.message);
}

export function recoveryRoutes({ db, temporal, config }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(recoveryOperations);
  const deps = { db, client: temporal.client, config };

  /** A dry run answers what would happen; a real one creates the batch and starts its workflow. */
  const bulk = (action: RecoveryAction) => async (req: Request, res: Response) => {
    const body = parseRequest(bulkRecoveryRequest, req.body ?? {}, 'body');
    if (body.dryRun) {
      res.json(await previewBulk(deps, action, body));
      return;
    }
    const actor = actorOf(res);
    let batch;
    try {
      batch = await createBatch(deps, action, body, actor);
    } catch (err) {
      throw refusal(err) ?? err;
    }
    await recordAudit(db, {
      actor,
      action: `batch.${action}`,
      target: batch.batchId,
      reason: body.reason,
      filter: body.filter,
      outcome: { batchId: batch.batchId, total: batch.total, ...(action === 'reset' ? { to: body.to } : {}) },
    });
    const answer: Built<typeof batchAcceptedSchema> = { batchId: batch.batchId, total: batch.total, status: 'RUNNING', statusUrl: `/api/batches/${batch.batchId}` };
    res.status(202).json(answer);
  };
  serve('POST /api/executions/bulk/reset', bulk('reset'));
  serve('POST /api/executions/bulk/replay', bulk('replay'));

  serve('GET /api/batches', async (req, res) => {
    const query = parseRequest(batchesQuery, req.query, 'query');
    res.json({ items: await listBatches(db, query.limit) });
  });

  serve('GET /api/batches/:id', async (req, res) => {
    const progress = /^[0-9a-f-]{36}$/i.test(req.params.id) ? await batchProgress(db, req.params.id) : undefined;
    if (!progress) throw new HttpProblem('not_found', `no batch has id "${req.params.id}"`);
    res.json(progress);
  });

  serve('POST /api/batches/:id/cancel', async (req, res) => {
    const body = parseRequest(cancelBatchBody, req.body ?? {}, 'body');
    if (!/^[0-9a-f-]{36}$/i.test(req.params.id)) throw new HttpProblem('not_found', `no batch has id "${req.params.id}"`);
    try {
      await cancelBatch(deps, req.params.id);
    } catch (err) {
      throw refusal(err) ?? err;
    }
    await recordAudit(db, { actor: actorOf(res), action: 'batch.cancel', target: req.params.id, reason: body.reason, outcome: { requested: true } });
    const answer: Built<typeof batchCancellingSchema> = { batchId: req.params.id, status: 'CANCELLING', statusUrl: `/api/batches/${req.params.id}` };
    res.status(202).json(answer);
  });

  serve('GET /api/audit', async (req, res) => {
    const query = parseRequest(auditQuery, req.query, 'query');
    let q = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(query.limit + 1);
    if (query.target !== undefined) q = q.where('target', '=', query.target);
    if (query.before !== undefined) q = q.where('id', '<', String(query.before));
    const rows = await q.execute();
    const page = rows.slice(0, query.limit);
    res.json({
      items: page.map((r) => ({
        id: Number(r.id),
        at: r.at,
        actor: r.actor,
        viaKey: r.via_key,
        action: r.action,
        target: r.target,
        reason: r.reason,
        filter: r.filter,
        outcome: r.outcome,
      })),
      nextBefore: rows.length > query.limit ? Number(page.at(-1)!.id) : null,
    });
  });

  return router;
}
