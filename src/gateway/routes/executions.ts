/**
 * Reading runs as the mirror records them, with live state from the workflow
 * while it runs, what the delivery ledger says they sent, and their Temporal
 * history. Acting on a run (signal, cancel, terminate, replay, reset) is
 * execution-actions.ts.
 */
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import type { Router } from 'express';
import { z } from 'zod';
import { findDefinition } from '../../../db/definitions';
import { listRunDeliveries, type RunDeliveryRow } from '../../../db/deliveries';
import { type ExecutionCursor, findExecution, listExecutionLogs, listExecutions } from '../../../db/executions';
import type { ExecutionLogRow, ExecutionRow } from '../../../db/schema';
import type { RunState } from '../../shared/run';
import { DELIVERY_STATUSES, EXECUTION_STATUSES, isExecutionStatus, isTerminal, STEP_EVENTS } from '../../shared/status';
import type { RouteDeps } from '../context';
import { MAX_WAIT_MS } from '../run-endings';
import { summarizeHistory } from '../history';
import { declaredRouter } from '../declared-router';
import { type Built, documented, EXECUTION_ID, named, type Operations, time, uuid } from '../operations';
import { HttpProblem } from '../problem';
import { liveState } from '../run-updates';
import { type RunBuild, runBuild } from '../../temporal/deployments';
import { parseRequest, wholeNumber } from '../validate';
import { STEP_ID } from '../../shared/definition';
import { parseDuration } from '../../shared/duration';

const LIVE_QUERY_TIMEOUT_MS = 2_000;

/** `GET /api/executions/{id}`'s query: how long to wait for the run to end before answering. */
export const readQuery = z
  .object({
    wait: z
      .string()
      .transform((value, ctx) => {
        const ms = parseDuration(value);
        if (ms === undefined || ms > MAX_WAIT_MS) {
          ctx.addIssue({ code: 'custom', message: `must be a duration of at most ${MAX_WAIT_MS / 1000}s, such as 30s or 500ms` });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
  })
  .strict();

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

const executionDeliverySchema = named(
  'ExecutionDelivery',
  z.object({
    stepPath: z.string().meta({ description: "the step's path in the run, with loop indexes inside a foreach (`notifyEach[3].mail`)" }),
    channel: z.string().meta({ description: '`email`, `slack`, `sms`, `teams` or `pagerduty`; `db` for `db_insert` and `db_update` steps' }),
    status: z.enum(DELIVERY_STATUSES).meta({
      description: 'SENDING while the provider is called; SENT; FAILED when the provider did not take it; UNKNOWN when it may have (the answer never came)',
    }),
    attempts: z.int().meta({ description: 'calls made to the provider for it' }),
    recipient: z.string().nullable().meta({
      description:
        "as the ledger holds it: the email's `to` addresses, the SMS number, the Slack channel (`webhook` through a webhook), `webhook` for Teams, the PagerDuty dedup key, the table of a data step; personal data as the trigger data is, never a credential",
    }),
    connection: z.string().nullable().meta({ description: "the connection the step sent through; null for the channel's settings from the environment" }),
    connectionVersion: z.int().nullable().meta({
      description: "the version of that connection the last send opened; null for the environment's settings and for rows written before versions were recorded",
    }),
    error: z.string().nullable().meta({
      description:
        "why the last attempt did not send, as the step reported it (the provider's refusal, or the connection that broke); null once SENT and while SENDING",
    }),
    createdAt: time.meta({ description: 'when the first attempt claimed it, before calling the provider' }),
    updatedAt: time.meta({ description: 'when its status last changed (for SENT: when the ledger recorded the send)' }),
  }),
);

/** A run as the API answers it: the type of the schema the document states. */
export type Execution = z.infer<typeof executionSchema>;

export function publicExecution(row: ExecutionRow): Execution {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    runId: row.run_id,
    definitionId: row.definition_id,
    definitionVersion: row.definition_version,
    status: documented(EXECUTION_STATUSES, row.status, `the status of execution ${row.id}`),
    triggerType: row.trigger_type,
    templateKey: row.template_key,
    category: row.category,
    currentStep: row.current_step,
    error: row.error,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationMs: row.duration_ms,
    replayOf: row.replay_of,
  };
}

/** A step event as the API answers it: the type of the schema the document states. */
export type ExecutionLog = z.infer<typeof executionLogSchema>;

export function publicLog(row: ExecutionLogRow): ExecutionLog {
  return {
    stepPath: row.step_path,
    stepId: row.step_id,
    stepType: row.step_type,
    event: documented(STEP_EVENTS, row.event, `the event of a log row of execution ${row.execution_id}`),
    attempt: row.attempt,
    message: row.message,
    output: row.output,
    error: row.error,
    timestamp: row.timestamp.toISOString(),
  };
}

/** A ledger row as the API answers it: the type of the schema the document states. */
export type ExecutionDelivery = z.infer<typeof executionDeliverySchema>;

export function publicDelivery(row: RunDeliveryRow): ExecutionDelivery {
  return {
    stepPath: row.step_path,
    channel: row.channel,
    status: documented(DELIVERY_STATUSES, row.status, `the status of delivery ${row.workflow_id}/${row.step_path}`),
    attempts: row.attempts,
    recipient: row.recipient,
    connection: row.connection,
    connectionVersion: row.connection_version,
    error: row.status === 'SENT' || row.status === 'SENDING' ? null : row.last_error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

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
    build: z
      .object({ deployment: z.string(), buildId: z.string(), behavior: z.enum(['pinned', 'auto-upgrade']).nullable() })
      .nullable()
      .meta({
        description: `the worker build that ran the run's latest workflow task, and whether the run is pinned to it (Worker Versioning); null for unversioned workers, when the gateway has no WORKER_DEPLOYMENT_NAME, or when Temporal does not answer in ${LIVE_QUERY_TIMEOUT_MS / 1000} s`,
      }),
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
const executionDeliveriesSchema = named(
  'ExecutionDeliveries',
  z.object({ executionId: uuid, items: z.array(executionDeliverySchema) }),
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
    summary: 'One run: mirror row, step log, live state; optionally once it has ended',
    description:
      'With `wait`, an open run is answered once it has ended (its mirror row has a final status), or when the wait is up with the run as it stands: ' +
      'one request for the outcome, where reading again and again asks the workflow for its live state each time. A finished run is answered at once.',
    access: 'viewer',
    params: { id: EXECUTION_ID },
    query: {
      schema: readQuery,
      docs: { wait: { description: `how long to wait for the run to end, at most ${MAX_WAIT_MS / 1000}s`, example: '30s' } },
    },
    answers: { 200: { description: 'the run', schema: executionDetailSchema } },
    problems: ['not_found', 'validation_failed'],
  },
  'GET /api/executions/:id/logs': {
    tag: 'Executions',
    summary: "A run's step log, in order",
    access: 'viewer',
    params: { id: EXECUTION_ID },
    answers: { 200: { description: 'the step log', schema: executionLogsSchema } },
    problems: ['not_found'],
  },
  'GET /api/executions/:id/deliveries': {
    tag: 'Executions',
    summary: 'What a run sent: its rows of the delivery ledger, oldest first',
    description:
      "One row per notification (and data) step that began to send, its foreach chunks' included; a reset run keeps its rows, so steps it does not send again show once. Viewers may read it, as they read the run's trigger data: recipients are personal data, never credentials.",
    access: 'viewer',
    params: { id: EXECUTION_ID },
    answers: { 200: { description: "the run's deliveries", schema: executionDeliveriesSchema } },
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
} satisfies Operations;

export function executionRoutes({ db, temporal, config, runEndings }: RouteDeps): Router {
  const { router, serve } = declaredRouter(executionOperations);

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

  /** What the delivery ledger holds for the run (and its foreach chunks), oldest first. */
  serve('GET /api/executions/:id/deliveries', async (req, res) => {
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    const deliveries = await listRunDeliveries(db, row.workflow_id);
    const answer: Built<typeof executionDeliveriesSchema> = { executionId: row.id, items: deliveries.map(publicDelivery) };
    res.json(answer);
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
    const { wait } = parseRequest(readQuery, req.query, 'query');
    let row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    if (wait && !isTerminal(row.status)) {
      // Waiting from before the second read: an ending between the two reads is not missed.
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const ended = runEndings.waitFor(row.id, wait, gone.signal);
      row = await findExecution(db, row.id);
      if (row && !isTerminal(row.status)) {
        await ended;
        row = await findExecution(db, row.id);
      }
      gone.abort();
      if (res.destroyed) return;
      if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    }
    const logs = await listExecutionLogs(db, row.id);
    const withinDeadline = <T,>(answer: Promise<T>): Promise<T | null> =>
      Promise.race([answer, new Promise<null>((resolve) => setTimeout(() => resolve(null), LIVE_QUERY_TIMEOUT_MS).unref())]).catch(() => null);
    const [live, build]: [RunState | null, RunBuild | null] = await Promise.all([
      !isTerminal(row.status) && row.run_id ? withinDeadline(liveState(temporal.client, row.workflow_id)) : null,
      // Only under Worker Versioning: one describe per page, never per row of a list.
      config.deployment.name !== undefined && row.run_id ? withinDeadline(runBuild(temporal.client, row.workflow_id)) : null,
    ]);
    const ui = `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(row.workflow_id)}`;
    res.json({ ...publicExecution(row), triggerData: row.trigger_data, temporalUiUrl: ui, live, logs: logs.map(publicLog), build });
  });

  return router;
}
