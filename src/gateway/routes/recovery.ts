/**
 * Bulk recovery and the audit trail: `POST /api/executions/bulk/reset` and
 * `…/bulk/replay` (dry run or batch), `/api/batches` (progress, cancel) and
 * `/api/audit`. Mounted before the executions routes, whose
 * `/api/executions/:id/…` would otherwise take `bulk` for an id.
 */
import { type Request, type Response, Router } from 'express';
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
import { callerOf, requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { HttpProblem, PROBLEM_CODES, type ProblemCode } from '../problem';
import { parseRequest, wholeNumber } from '../validate';

export const cancelBatchBody = z.object({ reason: z.string().trim().min(1, 'say why the batch is cancelled').max(500) }).strict();

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
  const router = Router();
  const deps = { db, client: temporal.client, config };

  /** A dry run answers what would happen; a real one creates the batch and starts its workflow. */
  const bulk = (action: RecoveryAction) => async (req: Request, res: Response) => {
    const body = parseRequest(bulkRequest, req.body ?? {}, 'body');
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
    res.status(202).json({ batchId: batch.batchId, total: batch.total, status: 'RUNNING', statusUrl: `/api/batches/${batch.batchId}` });
  };
  router.post('/api/executions/bulk/reset', requireRole('admin'), bulk('reset'));
  router.post('/api/executions/bulk/replay', requireRole('admin'), bulk('replay'));

  router.get('/api/batches', requireRole('viewer'), async (req, res) => {
    const query = parseRequest(batchesQuery, req.query, 'query');
    res.json({ items: await listBatches(db, query.limit) });
  });

  router.get('/api/batches/:id', requireRole('viewer'), async (req, res) => {
    const progress = /^[0-9a-f-]{36}$/i.test(req.params.id) ? await batchProgress(db, req.params.id) : undefined;
    if (!progress) throw new HttpProblem('not_found', `no batch has id "${req.params.id}"`);
    res.json(progress);
  });

  router.post('/api/batches/:id/cancel', requireRole('admin'), async (req, res) => {
    const body = parseRequest(cancelBatchBody, req.body ?? {}, 'body');
    if (!/^[0-9a-f-]{36}$/i.test(req.params.id)) throw new HttpProblem('not_found', `no batch has id "${req.params.id}"`);
    try {
      await cancelBatch(deps, req.params.id);
    } catch (err) {
      throw refusal(err) ?? err;
    }
    await recordAudit(db, { actor: actorOf(res), action: 'batch.cancel', target: req.params.id, reason: body.reason, outcome: { requested: true } });
    res.status(202).json({ batchId: req.params.id, status: 'CANCELLING', statusUrl: `/api/batches/${req.params.id}` });
  });

  router.get('/api/audit', requireRole('admin'), async (req, res) => {
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
