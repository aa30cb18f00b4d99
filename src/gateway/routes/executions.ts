/** Runs as the mirror records them, with live state from the workflow while it runs. */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import { findExecution, listExecutionLogs, settleExecution } from '../../../db/executions';
import type { ExecutionLogRow, ExecutionRow } from '../../../db/schema';
import { DELIVER_EVENT_UPDATE, type RunEvent, type RunEventReceipt, type RunState } from '../../shared/run';
import { isTerminal } from '../../shared/status';
import { callerOf, requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { HttpProblem } from '../problem';
import { parseRequest } from '../validate';

const LIVE_QUERY_TIMEOUT_MS = 2_000;

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

const signalBody = z
  .object({
    signal: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be the name a wait_for_signal step waits for'),
    data: z.record(z.string(), z.unknown()).optional(),
    /** Who decided, when the caller acts for someone; defaults to the API key's name. */
    by: z.string().min(1).max(200).optional(),
  })
  .strict();

const terminateBody = z.object({ reason: z.string().min(1, 'say why the run is terminated').max(1000) }).strict();

export function executionRoutes({ db, temporal, config }: GatewayDeps): Router {
  const router = Router();

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
      const receipt = await temporal.client.workflow
        .getHandle(row.workflow_id)
        .executeUpdate<RunEventReceipt, [RunEvent]>(DELIVER_EVENT_UPDATE, { args: [event] });
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

  router.get('/api/executions/:id', requireRole('viewer'), async (req, res) => {
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    const logs = await listExecutionLogs(db, row.id);
    let live: RunState | null = null;
    if (!isTerminal(row.status) && row.run_id) {
      live = await Promise.race([
        temporal.client.workflow.getHandle(row.workflow_id).query<RunState>('state'),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), LIVE_QUERY_TIMEOUT_MS).unref()),
      ]).catch(() => null);
    }
    const ui = `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(row.workflow_id)}`;
    res.json({ ...publicExecution(row), temporalUiUrl: ui, live, logs: logs.map(publicLog) });
  });

  return router;
}
