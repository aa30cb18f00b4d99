/**
 * Acting on one run: sending it an event, cancelling or terminating it while
 * it is open; replaying or resetting it once it has ended (the reason goes to
 * the audit log). Reading runs is executions.ts.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Router } from 'express';
import { z } from 'zod';
import { findExecution, settleExecution } from '../../../db/executions';
import { RESET_TARGETS } from '../../executions/reset';
import { recordAudit, replayClosedExecution, resetExecution } from '../../executions/recovery';
import { DELIVER_EVENT_UPDATE, type RunEvent, type RunEventReceipt } from '../../shared/run';
import { isTerminal } from '../../shared/status';
import { callerOf } from '../auth';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, EXECUTION_ID, named, type Operations, uuid } from '../operations';
import { HttpProblem } from '../problem';
import { updateRun } from '../run-updates';
import { runUrlFields, runUrls } from '../start-run';
import { parseRequest } from '../validate';
import { actorOf, refusal } from './recovery';

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
    ...runUrlFields,
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
    ...runUrlFields,
  }),
);

export const executionActionOperations = {
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

export function executionActionRoutes({ db, temporal, config }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(executionActionOperations);
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
    res.status(202).json({ ...started, status: 'RUNNING', ...runUrls(started.executionId) });
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
    res.status(202).json({ ...reset, status: 'RUNNING', ...runUrls(row.id) });
  });

  return router;
}
