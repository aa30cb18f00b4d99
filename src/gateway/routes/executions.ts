/** Runs as the mirror records them, with live state from the workflow while it runs. */
import { Router } from 'express';
import { findExecution, listExecutionLogs } from '../../../db/executions';
import type { ExecutionLogRow, ExecutionRow } from '../../../db/schema';
import type { RunState } from '../../shared/run';
import { isTerminal } from '../../shared/status';
import { requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { HttpProblem } from '../problem';

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

export function executionRoutes({ db, temporal, config }: GatewayDeps): Router {
  const router = Router();

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
