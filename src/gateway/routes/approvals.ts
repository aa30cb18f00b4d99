/** Decisions on waiting `approval` steps, and the list of those waiting (an inbox). */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { sql } from 'kysely';
import { Router } from 'express';
import { z } from 'zod';
import { findExecution } from '../../../db/executions';
import { DECIDE_UPDATE, type DecisionInput, type DecisionReceipt } from '../../shared/run';
import { roleAtLeast } from '../../shared/roles';
import { isTerminal } from '../../shared/status';
import { callerOf, requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { HttpProblem } from '../problem';
import { liveState, updateRun } from '../run-updates';
import { parseRequest, wholeNumber } from '../validate';

export const decisionBody = z
  .object({
    /** The approval step's id, or its full path inside a loop (`review[2].approve`). */
    step: z.string().min(1).max(300),
    decision: z.enum(['approve', 'reject']),
    comment: z.string().max(2000).optional(),
    /** The person deciding, when an admin records a decision for them; defaults to the API key's name. */
    by: z.string().min(1).max(200).optional(),
  })
  .strict();

export const approvalsQuery = z
  .object({
    /** Only the approvals the caller may decide and has not decided yet. */
    mine: z.enum(['true', 'false']).transform((v) => v === 'true').default(false),
    limit: wholeNumber(1, 200).default(100),
  })
  .strict();

/**
 * Trigger data up to this size (as JSON text) comes with each waiting approval,
 * so a person can tell runs apart; larger data is left to the run's own page.
 */
export const TRIGGER_DATA_SHOWN_BYTES = 8192;

export function approvalRoutes({ db, temporal }: GatewayDeps): Router {
  const router = Router();

  /**
   * The approval steps waiting now, oldest first: the mirror names the open
   * runs whose approval step started and has not ended; each run's live state
   * says who may decide and what was decided.
   */
  router.get('/api/approvals', requireRole('viewer'), async (req, res) => {
    const query = parseRequest(approvalsQuery, req.query, 'query');
    const { rows } = await sql<{
      execution_id: string;
      workflow_id: string;
      key: string;
      name: string;
      version: number;
      trigger_data: Record<string, unknown> | null;
      step_path: string;
      since: Date;
    }>`
      select e.id as execution_id, e.workflow_id, d.key, d.name, e.definition_version as version,
        case when octet_length(e.trigger_data::text) <= ${TRIGGER_DATA_SHOWN_BYTES} then e.trigger_data end as trigger_data,
        l.step_path, min(l.timestamp) as since
      from workflow_executions e
      join workflow_definitions d on d.id = e.definition_id
      join workflow_execution_logs l on l.execution_id = e.id and l.step_type = 'approval' and l.event = 'STARTED'
      where e.status in ('PENDING', 'RUNNING')
        and not exists (
          select 1 from workflow_execution_logs x
          where x.execution_id = l.execution_id and x.step_path = l.step_path and x.attempt = l.attempt and x.event <> 'STARTED')
      group by e.id, d.id, l.step_path
      order by since
      limit ${query.limit}`.execute(db);
    const caller = callerOf(res)!;
    const states = new Map<string, Awaited<ReturnType<typeof liveState>> | null>();
    await Promise.all(
      [...new Set(rows.map((r) => r.workflow_id))].map(async (id) => states.set(id, await liveState(temporal.client, id).catch(() => null))),
    );
    const items = rows.flatMap((r) => {
      const open = states.get(r.workflow_id)?.approvals.find((a) => a.stepPath === r.step_path);
      if (!open) return [];
      const me = caller.name.toLowerCase();
      const named = open.approvers?.some((a) => a.toLowerCase() === me) ?? false;
      const byRole = open.role !== null && roleAtLeast(caller.role, open.role);
      const decided = open.decisions.some((d) => d.decidedBy.toLowerCase() === me);
      const mayDecide = (named || byRole) && !decided && caller.role !== 'viewer';
      if (query.mine && !mayDecide) return [];
      return [
        {
          executionId: r.execution_id,
          workflowId: r.workflow_id,
          definitionKey: r.key,
          definitionName: r.name,
          definitionVersion: r.version,
          triggerData: r.trigger_data,
          stepPath: r.step_path,
          waitingSince: r.since,
          approvers: open.approvers,
          role: open.role,
          required: open.required,
          decisions: open.decisions.map(({ decidedBy, decision, comment, at }) => ({ by: decidedBy, decision, comment: comment ?? null, at })),
          mayDecide,
        },
      ];
    });
    res.json({ items });
  });

  router.post('/api/executions/:id/approvals', requireRole('operator'), async (req, res) => {
    const body = parseRequest(decisionBody, req.body ?? {}, 'body');
    const row = await findExecution(db, req.params.id);
    if (!row) throw new HttpProblem('not_found', `no execution has id "${req.params.id}"`);
    if (isTerminal(row.status)) throw new HttpProblem('execution_closed', `execution ${row.id} has ended (${row.status})`);
    const caller = callerOf(res);
    // Deciding in someone else's name is an admin's act (recorded with the admin's key as via_key);
    // an operator key decides as itself, or anyone could approve as a named approver.
    if (body.by !== undefined && body.by !== caller?.name && caller?.role !== 'admin') {
      throw new HttpProblem('forbidden', `only an admin key may record a decision for someone else; this key decides as "${caller?.name}"`, [
        { path: '$.body.by', message: 'must be omitted or equal to the key\'s own name' },
      ]);
    }
    const input: DecisionInput = {
      step: body.step,
      decision: body.decision,
      comment: body.comment,
      by: body.by ?? caller?.name ?? 'unknown',
      role: caller?.role,
      viaKey: caller?.name,
    };
    try {
      const receipt = await updateRun<DecisionReceipt, DecisionInput>(temporal.client, row.workflow_id, DECIDE_UPDATE, input);
      res.json({ ...receipt, executionId: row.id, decision: body.decision, by: input.by });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new HttpProblem('decision_refused', err.cause?.message ?? err.message, [{ path: '$.body', message: err.cause?.message ?? 'refused' }]);
      }
      if (/already completed|not found/i.test(String(err))) throw new HttpProblem('execution_closed', `execution ${row.id} has ended`);
      throw err;
    }
  });

  return router;
}
