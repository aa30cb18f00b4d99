/** Runs as the mirror records them, with live state from the workflow while it runs. */
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import { findDefinition } from '../../../db/definitions';
import {
  type ExecutionCursor,
  findExecution,
  listExecutionLogs,
  listExecutions,
  settleExecution,
} from '../../../db/executions';
import type { ExecutionLogRow, ExecutionRow } from '../../../db/schema';
import { DELIVER_EVENT_UPDATE, type RunEvent, type RunEventReceipt, type RunState } from '../../shared/run';
import { EXECUTION_STATUSES, isExecutionStatus, isTerminal } from '../../shared/status';
import { callerOf, requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { RESET_TARGETS } from '../../executions/reset';
import { recordAudit, replayClosedExecution, resetExecution } from '../../executions/recovery';
import { actorOf, refusal } from './recovery';
import { summarizeHistory } from '../history';
import { HttpProblem } from '../problem';
import { liveState, updateRun } from '../run-updates';
import { parseRequest, wholeNumber } from '../validate';
import { STEP_ID } from '../../shared/definition';

const LIVE_QUERY_TIMEOUT_MS = 2_000;
/** gRPC's NOT_FOUND: the history call hands back the raw gRPC error. */
const GRPC_NOT_FOUND = 5;

export function publicExecution(row: ExecutionRow) {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    runId: row.run_id,
    definitionId: row.definition_id,
    definitionVersion: row.definition_version,
    status: row.status,
    triggerType: row.trigger_type,
    templateKey: row.template_key,
    category: row.category,
    currentStep: row.current_step,
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
    replayOf: row.replay_of,
  };
}

export function publicLog(row: ExecutionLogRow) {
  return {
    stepPath: row.step_path,
    stepId: row.step_id,
    stepType: row.step_type,
    event: row.event,
    attempt: row.attempt,
    message: row.message,
    output: row.output,
    error: row.error,
    timestamp: row.timestamp,
  };
}

export const signalBody = z
  .object({
    signal: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be the name a wait_for_signal step waits for'),
    data: z.record(z.string(), z.unknown()).optional(),
    /** Who decided, when the caller acts for someone; defaults to the API key's name. */
    by: z.string().min(1).max(200).optional(),
  })
  .strict();

/** `POST /api/executions/:id/reset`: why, and where to. */
export const resetBody = z
  .object({
    reason: z.string().trim().min(1, 'say why the run is reset').max(500),
    /** `failed-step` (the default) redoes the step that failed and what follows; `start` redoes the whole run. */
    to: z.enum(RESET_TARGETS).default('failed-step'),
  })
  .strict();

/** `POST /api/executions/:id/replay`: why; the run is always the same version with the same trigger data. */
export const replayBody = z.object({ reason: z.string().trim().min(1, 'say why the run is replayed').max(500) }).strict();

export const terminateBody = z.object({ reason: z.string().min(1, 'say why the run is terminated').max(1000) }).strict();

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The opaque `nextCursor`: base64url of the last row's `started_at` (to the microsecond) and id. */
export function encodeCursor(cursor: ExecutionCursor): string {
  return Buffer.from(`${cursor.startedAt},${cursor.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(text: string): ExecutionCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return undefined;
  const [startedAt, id, ...rest] = Buffer.from(text, 'base64url').toString('utf8').split(',');
  if (rest.length > 0 || !startedAt || !id || !CURSOR_TIME.test(startedAt) || !UUID.test(id)) return undefined;
  // A real calendar time: 2026-02-30 passes the pattern but not the round trip.
  const ms = Date.parse(startedAt);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 23) !== startedAt.slice(0, 23)) return undefined;
  return { startedAt, id };
}

const isoTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with a zone, e.g. 2026-11-25T09:00:00Z' });

export const listQuery = z
  .object({
    /** A definition's id or key. */
    definition: z.string().min(1).max(200).optional(),
    /** Runs of this definition version (with `definition`, of that definition). */
    version: wholeNumber(1).optional(),
    /** Runs in which this step (by id) failed. */
    failedStep: z.string().regex(STEP_ID, 'must be a step id').optional(),
    /** One status, or several separated by commas (also as repeated parameters). */
    status: z
      .union([z.string(), z.array(z.string())])
      .transform((value, ctx) => {
        const statuses = (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim().toUpperCase());
        const bad = statuses.filter((s) => !isExecutionStatus(s));
        if (bad.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message: `${bad.map((s) => JSON.stringify(s)).join(', ')} is not a status: use ${EXECUTION_STATUSES.join(', ')}, or several separated by commas`,
          });
          return z.NEVER;
        }
        return statuses;
      })
      .optional(),
    template: z.string().min(1).max(64).optional(),
    category: z.string().min(1).max(64).optional(),
    /** Runs started at or after this time. */
    from: isoTime.optional(),
    /** Runs started before this time. */
    to: isoTime.optional(),
    cursor: z
      .string()
      .transform((value, ctx) => {
        const cursor = decodeCursor(value);
        if (!cursor) {
          ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned: pass nextCursor as it came' });
          return z.NEVER;
        }
        return cursor;
      })
      .optional(),
    limit: wholeNumber(1, 200).default(50),
  })
  .strict()
  .superRefine((query, ctx) => {
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
    }
  });

export function executionRoutes({ db, temporal, config }: GatewayDeps): Router {
  const router = Router();
  const recovery = { db, client: temporal.client, config };

  async function openExecution(id: string) {
    const row = await findExecution(db, id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${id}"`);
    if (isTerminal(row.status)) throw new HttpProblem('execution_closed', `execution ${row.id} has ended (${row.status})`);
    return row;
  }

  /** Temporal's word that the run is closed, as the 409 the mirror would have given had it known. */
  function closedProblem(err: unknown, id: string): HttpProblem | undefined {
    if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String(err))) {
      return new HttpProblem('execution_closed', `execution ${id} has ended`);
    }
    return undefined;
  }

  router.post('/api/executions/:id/signal', requireRole('operator'), async (req, res) => {
    const body = parseRequest(signalBody, req.body ?? {}, 'body');
    const row = await openExecution(req.params.id);
    const event: RunEvent = { signal: body.signal, data: body.data, by: body.by ?? callerOf(res)?.name };
    try {
      const receipt = await updateRun<RunEventReceipt, RunEvent>(temporal.client, row.workflow_id, DELIVER_EVENT_UPDATE, event);
      res.json({ ...receipt, executionId: row.id, signal: body.signal });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new HttpProblem('not_waiting', err.cause?.message ?? err.message, [{ path: '$.body.signal', message: 'no step is waiting for it' }]);
      }
      throw closedProblem(err, row.id) ?? err;
    }
  });

  router.post('/api/executions/:id/cancel', requireRole('operator'), async (req, res) => {
    const row = await openExecution(req.params.id);
    try {
      await temporal.client.workflow.getHandle(row.workflow_id).cancel();
    } catch (err) {
      throw closedProblem(err, row.id) ?? err;
    }
    // The workflow runs its own cleanup and records CANCELLED when it has stopped.
    res.status(202).json({ executionId: row.id, status: 'CANCELLING', statusUrl: `/api/executions/${row.id}` });
  });

  router.post('/api/executions/:id/terminate', requireRole('admin'), async (req, res) => {
    const body = parseRequest(terminateBody, req.body ?? {}, 'body');
    const row = await openExecution(req.params.id);
    const by = callerOf(res)?.name ?? 'unknown';
    try {
      await temporal.client.workflow.getHandle(row.workflow_id).terminate(`${body.reason} (by ${by})`);
    } catch (err) {
      throw closedProblem(err, row.id) ?? err;
    }
    await settleExecution(db, row.id, { status: 'TERMINATED', error: `terminated by ${by}: ${body.reason}` });
    res.json({ executionId: row.id, status: 'TERMINATED' });
  });

  /** A closed execution, for the routes that act on one that has ended. */
  async function closedExecution(id: string) {
    const row = await findExecution(db, id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${id}"`);
    if (!isTerminal(row.status)) {
      throw new HttpProblem('execution_open', `execution ${row.id} is still ${row.status}; cancel or terminate it first`);
    }
    return row;
  }

  /**
   * Runs a closed execution again as a new one: the version it pinned, the
   * same trigger data. The new row's `replayOf` names the original.
   */
  router.post('/api/executions/:id/replay', requireRole('admin'), async (req, res) => {
    const body = parseRequest(replayBody, req.body ?? {}, 'body');
    const original = await closedExecution(req.params.id);
    const actor = actorOf(res);
    let started;
    try {
      started = await replayClosedExecution(recovery, original);
    } catch (err) {
      throw refusal(err) ?? err;
    }
    await recordAudit(db, { actor, action: 'execution.replay', target: original.id, reason: body.reason, outcome: { executionId: started.executionId } });
    res.status(202).json({ ...started, status: 'RUNNING', statusUrl: `/api/executions/${started.executionId}` });
  });

  /**
   * Resets the execution's Temporal run to the step that failed (or to its
   * start): a new run, same workflow id and execution, redoes it and what
   * follows; steps before it, deliveries included, are not run again.
   */
  router.post('/api/executions/:id/reset', requireRole('admin'), async (req, res) => {
    const body = parseRequest(resetBody, req.body ?? {}, 'body');
    const row = await closedExecution(req.params.id);
    const actor = actorOf(res);
    let reset;
    try {
      reset = await resetExecution(recovery, row, body.to, body.reason, actor);
    } catch (err) {
      const refused = refusal(err);
      if (refused?.code === 'reset_refused') throw new HttpProblem('reset_refused', refused.message, [{ path: '$.body.to', message: refused.message }]);
      throw refused ?? closedProblem(err, row.id) ?? err;
    }
    await recordAudit(db, { actor, action: 'execution.reset', target: row.id, reason: body.reason, outcome: { runId: reset.runId, resetTo: body.to } });
    res.status(202).json({ ...reset, status: 'RUNNING', statusUrl: `/api/executions/${row.id}` });
  });

  /**
   * Runs from the mirror, newest first, filtered and paged by cursor: pass
   * `nextCursor` back as `cursor` for the next page; it is null on the last.
   */
  router.get('/api/executions', requireRole('viewer'), async (req, res) => {
    const query = parseRequest(listQuery, req.query, 'query');
    let definitionId: string | undefined;
    if (query.definition !== undefined) {
      // Runs of a deleted definition stay reportable.
      const definition = await findDefinition(db, query.definition, { includeDeleted: true });
      if (!definition) {
        res.json({ items: [], nextCursor: null });
        return;
      }
      definitionId = definition.id;
    }
    const { rows, next } = await listExecutions(db, {
      definitionId,
      definitionVersion: query.version,
      failedStep: query.failedStep,
      statuses: query.status,
      templateKey: query.template,
      category: query.category,
      from: query.from,
      to: query.to,
      after: query.cursor,
      limit: query.limit,
    });
    res.json({ items: rows.map(publicExecution), nextCursor: next ? encodeCursor(next) : null });
  });

  router.get('/api/executions/:id/logs', requireRole('viewer'), async (req, res) => {
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    const logs = await listExecutionLogs(db, row.id);
    res.json({ executionId: row.id, items: logs.map(publicLog) });
  });

  /**
   * The run's Temporal event history, one summarized entry per event. Payloads
   * (workflow input, activity arguments and results, signal data) are left
   * out: they carry trigger data, which may be personal or secret.
   */
  router.get('/api/executions/:id/history', requireRole('viewer'), async (req, res) => {
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    let history;
    try {
      history = await temporal.client.workflow.getHandle(row.workflow_id, row.run_id ?? undefined).fetchHistory();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND)) {
        throw new HttpProblem(
          'not_found',
          `Temporal has no history of execution ${row.id}: the run never started, or it closed longer ago than the namespace keeps runs`,
        );
      }
      if (err instanceof ServiceError || isGrpcServiceError(err)) {
        throw new HttpProblem('temporal_unavailable', `Temporal did not answer: ${(err as Error).message}`);
      }
      throw err;
    }
    const events = summarizeHistory(history.events ?? []);
    res.json({ executionId: row.id, workflowId: row.workflow_id, runId: row.run_id, events });
  });

  router.get('/api/executions/:id', requireRole('viewer'), async (req, res) => {
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    const logs = await listExecutionLogs(db, row.id);
    let live: RunState | null = null;
    if (!isTerminal(row.status) && row.run_id) {
      live = await Promise.race([
        liveState(temporal.client, row.workflow_id),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), LIVE_QUERY_TIMEOUT_MS).unref()),
      ]).catch(() => null);
    }
    const ui = `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(row.workflow_id)}`;
    res.json({ ...publicExecution(row), triggerData: row.trigger_data, temporalUiUrl: ui, live, logs: logs.map(publicLog) });
  });

  return router;
}
