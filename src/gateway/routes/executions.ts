/** Runs as the mirror records them, with live state from the workflow while it runs. */
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Router } from 'express';
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
import { EXECUTION_STATUSES, isExecutionStatus, isTerminal, STEP_EVENTS } from '../../shared/status';
import { callerOf } from '../auth';
import type { GatewayDeps } from '../context';
import { RESET_TARGETS } from '../../executions/reset';
import { recordAudit, replayClosedExecution, resetExecution } from '../../executions/recovery';
import { actorOf, refusal } from './recovery';
import { summarizeHistory } from '../history';
import { declaredRouter } from '../declared-router';
import { type Built, EXECUTION_ID, named, type Operations, time, uuid } from '../operations';
import { HttpProblem } from '../problem';
import { liveState, updateRun } from '../run-updates';
import { parseRequest, wholeNumber } from '../validate';
import { STEP_ID } from '../../shared/definition';

const LIVE_QUERY_TIMEOUT_MS = 2_000;
/** gRPC's NOT_FOUND: the history call hands back the raw gRPC error. */
const GRPC_NOT_FOUND = 5;

const executionSchema = named(
  'Execution',
  z.object({
    id: uuid,
    workflowId: z.string(),
    runId: z.string().nullable(),
    definitionId: uuid,
    definitionVersion: z.int(),
    status: z.enum(EXECUTION_STATUSES),
    triggerType: z.string(),
    templateKey: z.string().nullable(),
    category: z.string(),
    currentStep: z.string().nullable(),
    error: z.string().nullable(),
    startedAt: time,
    finishedAt: time.nullable(),
    durationMs: z.number().nullable(),
    replayOf: uuid.nullable().meta({ description: 'the execution this one replays, if it is a replay' }),
  }),
);

const executionLogSchema = named(
  'ExecutionLog',
  z.object({
    stepPath: z.string(),
    stepId: z.string(),
    stepType: z.string(),
    event: z.enum(STEP_EVENTS),
    attempt: z.int(),
    message: z.string().nullable(),
    output: z.unknown(),
    error: z.string().nullable(),
    timestamp: time,
  }),
);

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

export const signalBody = named('SignalRequest', z
  .object({
    signal: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be the name a wait_for_signal step waits for'),
    data: z.record(z.string(), z.unknown()).optional(),
    /** Who decided, when the caller acts for someone; defaults to the API key's name. */
    by: z.string().min(1).max(200).optional(),
  })
  .strict());

/** `POST /api/executions/:id/reset`: why, and where to. */
export const resetBody = named('ResetRequest', z
  .object({
    reason: z.string().trim().min(1, 'say why the run is reset').max(500),
    /** `failed-step` (the default) redoes the step that failed and what follows; `start` redoes the whole run. */
    to: z.enum(RESET_TARGETS).default('failed-step'),
  })
  .strict());

/** `POST /api/executions/:id/replay`: why; the run is always the same version with the same trigger data. */
export const replayBody = named('ReplayRequest', z.object({ reason: z.string().trim().min(1, 'say why the run is replayed').max(500) }).strict());

export const terminateBody = named('TerminateRequest', z.object({ reason: z.string().min(1, 'say why the run is terminated').max(1000) }).strict());

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

const executionDetailSchema = named(
  'ExecutionDetail',
  executionSchema.extend({
    triggerData: z.record(z.string(), z.unknown()).meta({ description: 'the data the run was started with' }),
    temporalUiUrl: z.string(),
    live: z
      .record(z.string(), z.unknown())
      .nullable()
      .meta({ description: `the workflow's own view while it runs (steps, waits, variables); null once finished or when it does not answer in ${LIVE_QUERY_TIMEOUT_MS / 1000} s` }),
    logs: z.array(executionLogSchema),
  }),
);
const executionListSchema = named(
  'ExecutionList',
  z.object({
    items: z.array(executionSchema),
    nextCursor: z.string().nullable().meta({ description: 'pass it back as `cursor` for the next page; null on the last' }),
  }),
);
const executionLogsSchema = named(
  'ExecutionLogs',
  z.object({ executionId: uuid, items: z.array(executionLogSchema) }),
);
const executionHistorySchema = named(
  'ExecutionHistory',
  z.object({
    executionId: uuid,
    workflowId: z.string(),
    runId: z.string().nullable(),
    events: z.array(
      z.object({
        eventId: z.int(),
        time: z.string().nullable(),
        type: z.string(),
        activityType: z.string().optional(),
        timerId: z.string().optional(),
        summary: z.string().optional(),
        attempt: z.int().optional(),
        failure: z.string().optional(),
      }),
    ),
  }),
);
const signalReceiptSchema = named(
  'SignalReceipt',
  z.object({ accepted: z.literal(true), stepPath: z.string(), executionId: uuid, signal: z.string() }),
);
const cancelAcceptedSchema = named(
  'CancelAccepted',
  z.object({ executionId: uuid, status: z.literal('CANCELLING'), statusUrl: z.string() }),
);
const terminatedSchema = named(
  'Terminated',
  z.object({ executionId: uuid, status: z.literal('TERMINATED') }),
);
const replayStartedSchema = named(
  'ReplayStarted',
  z.object({
    executionId: uuid,
    workflowId: z.string(),
    runId: z.string(),
    definitionVersion: z.int().meta({ description: 'the version the original pinned' }),
    replayOf: uuid,
    status: z.literal('RUNNING'),
    statusUrl: z.string(),
  }),
);
const resetAcceptedSchema = named(
  'ResetAccepted',
  z.object({
    executionId: uuid,
    workflowId: z.string(),
    runId: z.string().meta({ description: 'the new run carrying the execution' }),
    previousRunId: z.string(),
    resetTo: z.enum(['failed-step', 'start']),
    redoes: z.string().optional().meta({ description: 'the activity type (or called workflow) of the step redone' }),
    status: z.literal('RUNNING'),
    statusUrl: z.string(),
  }),
);

const cursorExample = encodeCursor({ startedAt: '2026-11-25T18:32:19.680123Z', id: '3f1b0f8e-0000-4000-8000-000000000000' });

export const executionOperations = {
  'GET /api/executions': {
    tag: 'Executions',
    summary: 'List runs, newest first',
    description: 'Paged by cursor: pass `nextCursor` back as `cursor` for the next page.',
    access: 'viewer',
    query: {
      schema: listQuery,
      docs: {
        definition: { description: "a definition's id or key", example: 'order-followup' },
        version: { description: 'a definition version; with definition, the runs of that version', example: 1 },
        failedStep: { description: 'runs in which this step (its id) failed; best narrowed with definition', example: 'notify' },
        status: {
          description: `one status, or several separated by commas (case-insensitive): ${EXECUTION_STATUSES.join(', ')}`,
          example: 'FAILED,TIMED_OUT',
        },
        template: { description: 'template key', example: 'welcome-email' },
        category: { description: 'exact category', example: 'orders' },
        from: { description: 'runs started at or after this time', example: '2026-11-25T00:00:00Z' },
        to: { description: 'runs started before this time (later than `from`)', example: '2026-11-26T00:00:00Z' },
        cursor: { description: '`nextCursor` of the previous page, as it came', example: cursorExample },
        limit: { description: 'page size' },
      },
    },
    answers: { 200: { description: 'a page of runs', schema: executionListSchema } },
    problems: ['validation_failed'],
  },
  'GET /api/executions/:id': {
    tag: 'Executions',
    summary: 'One run: mirror row, step log, live state',
    access: 'viewer',
    params: { id: EXECUTION_ID },
    answers: { 200: { description: 'the run', schema: executionDetailSchema } },
    problems: ['not_found'],
  },
  'GET /api/executions/:id/logs': {
    tag: 'Executions',
    summary: "A run's step log, in order",
    access: 'viewer',
    params: { id: EXECUTION_ID },
    answers: { 200: { description: 'the step log', schema: executionLogsSchema } },
    problems: ['not_found'],
  },
  'GET /api/executions/:id/history': {
    tag: 'Executions',
    summary: "A run's Temporal event history, summarized",
    description: 'One entry per event; payloads (input, activity arguments and results, signal data) are left out.',
    access: 'viewer',
    params: { id: EXECUTION_ID },
    answers: { 200: { description: 'the events', schema: executionHistorySchema } },
    problems: ['not_found', 'temporal_unavailable'],
  },
  'POST /api/executions/:id/signal': {
    tag: 'Executions',
    summary: 'Send an event to a run waiting at a wait_for_signal step',
    access: 'operator',
    params: { id: EXECUTION_ID },
    body: { schema: signalBody, description: 'the event', example: { signal: 'manager-approval', data: { approved: true }, by: 'grace' } },
    answers: { 200: { description: 'the run has the event', schema: signalReceiptSchema } },
    problems: ['validation_failed', 'not_found', 'execution_closed', 'not_waiting'],
  },
  'POST /api/executions/:id/cancel': {
    tag: 'Executions',
    summary: 'Cancel a run',
    description: 'The step in progress is cancelled and the run records itself `CANCELLED`. No body.',
    access: 'operator',
    params: { id: EXECUTION_ID },
    answers: { 202: { description: 'cancellation requested', schema: cancelAcceptedSchema } },
    problems: ['not_found', 'execution_closed'],
  },
  'POST /api/executions/:id/terminate': {
    tag: 'Executions',
    summary: 'Terminate a run at once',
    description: 'No workflow code runs; the mirror row becomes `TERMINATED`.',
    access: 'admin',
    params: { id: EXECUTION_ID },
    body: { schema: terminateBody, description: 'why', example: { reason: 'sent to the wrong list' } },
    answers: { 200: { description: 'terminated', schema: terminatedSchema } },
    problems: ['validation_failed', 'not_found', 'execution_closed'],
  },
  'POST /api/executions/:id/replay': {
    tag: 'Executions',
    summary: 'Run a closed execution again',
    description:
      'Starts a new execution of the definition version the original pinned (not the current one) with the same trigger data; its `replayOf` names the original. Messages go out again: deliveries are deduplicated per execution. The reason goes to the audit log.',
    access: 'admin',
    params: { id: EXECUTION_ID },
    body: { schema: replayBody, description: 'why', example: { reason: 'the template is fixed' } },
    answers: { 202: { description: 'the new execution is accepted', schema: replayStartedSchema } },
    problems: ['validation_failed', 'not_found', 'execution_open', 'definition_deleted', 'definition_version_missing', 'temporal_unavailable'],
  },
  'POST /api/executions/:id/reset': {
    tag: 'Executions',
    summary: 'Redo a failed execution from the failed step',
    description:
      "Resets the execution's Temporal run: a new run under the same workflow id and execution redoes the step that failed (the last activity or called workflow that failed) and what follows, or the whole run with `\"to\": \"start\"`. Steps before the reset point do not run again. The reason, with the key's name, is recorded in the run's history.",
    access: 'admin',
    params: { id: EXECUTION_ID },
    body: { schema: resetBody, description: 'why, and where to', example: { reason: 'the CRM is back up', to: 'failed-step' } },
    answers: { 202: { description: 'the reset run is under way', schema: resetAcceptedSchema } },
    // The reason goes to the run's history and the audit log.
    problems: ['validation_failed', 'not_found', 'execution_open', 'execution_succeeded', 'execution_closed', 'reset_refused'],
  },

} satisfies Operations;

export function executionRoutes({ db, temporal, config }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(executionOperations);
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

  serve('POST /api/executions/:id/signal', async (req, res) => {
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

  serve('POST /api/executions/:id/cancel', async (req, res) => {
    const row = await openExecution(req.params.id);
    try {
      await temporal.client.workflow.getHandle(row.workflow_id).cancel();
    } catch (err) {
      throw closedProblem(err, row.id) ?? err;
    }
    // The workflow runs its own cleanup and records CANCELLED when it has stopped.
    const answer: Built<typeof cancelAcceptedSchema> = { executionId: row.id, status: 'CANCELLING', statusUrl: `/api/executions/${row.id}` };
    res.status(202).json(answer);
  });

  serve('POST /api/executions/:id/terminate', async (req, res) => {
    const body = parseRequest(terminateBody, req.body ?? {}, 'body');
    const row = await openExecution(req.params.id);
    const by = callerOf(res)?.name ?? 'unknown';
    try {
      await temporal.client.workflow.getHandle(row.workflow_id).terminate(`${body.reason} (by ${by})`);
    } catch (err) {
      throw closedProblem(err, row.id) ?? err;
    }
    await settleExecution(db, row.id, { status: 'TERMINATED', error: `terminated by ${by}: ${body.reason}` });
    const answer: Built<typeof terminatedSchema> = { executionId: row.id, status: 'TERMINATED' };
    res.json(answer);
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
  serve('POST /api/executions/:id/replay', async (req, res) => {
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
  serve('POST /api/executions/:id/reset', async (req, res) => {
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
  serve('GET /api/executions', async (req, res) => {
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

  serve('GET /api/executions/:id/logs', async (req, res) => {
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
  serve('GET /api/executions/:id/history', async (req, res) => {
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

  serve('GET /api/executions/:id', async (req, res) => {
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
