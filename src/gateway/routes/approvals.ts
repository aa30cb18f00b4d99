/** Decisions on waiting `approval` steps, and the list of those waiting (an inbox). */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { sql } from 'kysely';
import type { Router } from 'express';
import { z } from 'zod';
import { findExecution } from '../../../db/executions';
import { DECIDE_UPDATE, type DecisionInput, type DecisionReceipt } from '../../shared/run';
import { roleAtLeast } from '../../shared/roles';
import { isTerminal } from '../../shared/status';
import { callerOf } from '../auth';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, EXECUTION_ID, named, type Operations, time, uuid } from '../operations';
import { HttpProblem } from '../problem';
import { liveState, updateRun } from '../run-updates';
import { parseRequest, wholeNumber } from '../validate';

export const decisionBody = named(
  'DecisionRequest',
  z
    .object({
      /** The approval step's id, or its full path inside a loop (`review[2].approve`). */
      step: z.string().min(1).max(300),
      decision: z.enum(['approve', 'reject']),
      comment: z.string().max(2000).optional(),
      /** The person deciding, when an admin records a decision for them; defaults to the API key's name. */
      by: z.string().min(1).max(200).optional(),
    })
    .strict(),
);

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

const approvalListSchema = named(
  'ApprovalList',
  z.object({
    items: z.array(
      z.object({
        executionId: uuid,
        workflowId: z.string(),
        definitionKey: z.string(),
        definitionName: z.string(),
        definitionVersion: z.int().meta({ description: 'the version the run runs' }),
        triggerData: z
          .record(z.string(), z.unknown())
          .nullable()
          .meta({ description: `the data the run was started with; null when larger than ${TRIGGER_DATA_SHOWN_BYTES / 1024} KiB as JSON (the run has it whole)` }),
        stepPath: z.string(),
        waitingSince: time,
        approvers: z.array(z.string()).nullable(),
        role: z.string().nullable(),
        required: z.int(),
        decisions: z.array(z.object({ by: z.string(), decision: z.enum(['approve', 'reject']), comment: z.string().nullable(), at: time })),
        mayDecide: z.boolean().meta({ description: 'whether the caller may decide it now' }),
      }),
    ),
  }),
);

const decisionReceiptSchema = named(
  'DecisionReceipt',
  z.object({
    accepted: z.literal(true),
    stepPath: z.string(),
    sequence: z.int(),
    executionId: uuid,
    decision: z.enum(['approve', 'reject']),
    by: z.string(),
  }),
);

export const approvalOperations = {
  'GET /api/approvals': {
    tag: 'Executions',
    summary: 'Approval steps waiting for a decision, oldest first',
    description:
      "From the mirror (open runs whose approval step started and has not ended) and each run's live state (who may decide, decisions so far). `mine=true` keeps those the caller may decide and has not yet: named as an approver, or holding the role the step asks for (a viewer decides nothing).",
    access: 'viewer',
    query: { schema: approvalsQuery, docs: { mine: { description: 'only those the caller may decide' }, limit: { description: 'how many' } } },
    answers: { 200: { description: 'the waiting approvals', schema: approvalListSchema } },
    problems: ['validation_failed'],
  },
  'POST /api/executions/:id/approvals': {
    tag: 'Executions',
    summary: 'Decide on a waiting approval step',
    access: 'operator',
    params: { id: EXECUTION_ID },
    body: { schema: decisionBody, description: 'the decision', example: { step: 'review', decision: 'approve', comment: 'looks right' } },
    answers: { 200: { description: 'the decision is recorded', schema: decisionReceiptSchema } },
    problems: ['validation_failed', 'not_found', 'execution_closed', 'decision_refused'],
  },
} satisfies Operations;

export function approvalRoutes({ db, temporal }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(approvalOperations);

  /**
   * The approval steps waiting now, oldest first: the mirror names the open
   * runs whose approval step started and has not ended; each run's live state
   * says who may decide and what was decided.
   */
  serve('GET /api/approvals', async (req, res) => {
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
    const items = rows.flatMap((r): Built<typeof approvalListSchema>['items'] => {
      const open = states.get(r.workflow_id)?.approvals.find((a) => a.stepPath === r.step_path);
      if (!open) return [];
      const me = caller.name.toLowerCase();
      const listed = open.approvers?.some((a) => a.toLowerCase() === me) ?? false;
      const byRole = open.role !== null && roleAtLeast(caller.role, open.role);
      const decided = open.decisions.some((d) => d.decidedBy.toLowerCase() === me);
      const mayDecide = (listed || byRole) && !decided && caller.role !== 'viewer';
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

  serve('POST /api/executions/:id/approvals', async (req, res) => {
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
      const answer: Built<typeof decisionReceiptSchema> = { ...receipt, executionId: row.id, decision: body.decision, by: input.by };
      res.json(answer);
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
