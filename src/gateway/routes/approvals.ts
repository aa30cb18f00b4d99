/** Decisions on waiting `approval` steps. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import { findExecution } from '../../../db/executions';
import { DECIDE_UPDATE, type DecisionInput, type DecisionReceipt } from '../../shared/run';
import { isTerminal } from '../../shared/status';
import { callerOf, requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { HttpProblem } from '../problem';
import { updateRun } from '../run-updates';
import { parseRequest } from '../validate';

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

export function approvalRoutes({ db, temporal }: GatewayDeps): Router {
  const router = Router();

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
