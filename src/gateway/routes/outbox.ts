/**
 * `GET /api/outbox`: the dev outbox (DEV_OUTBOX), what notification steps
 * recorded instead of sending because their channel had no credentials —
 * newest first, for one run or all. Operators may read it: the messages name
 * their recipients. Empty where DEV_OUTBOX has never been on.
 */
import { Router } from 'express';
import { z } from 'zod';
import { listOutbox } from '../../../db/dev-outbox';
import { requireRole } from '../auth';
import type { GatewayDeps } from '../context';
import { parseRequest, wholeNumber } from '../validate';

/** The channels that record in the outbox (activities/outbox.ts). */
export const OUTBOX_CHANNELS = ['email', 'sms', 'slack', 'teams'] as const;

export const outboxQuery = z
  .object({
    /** One run's messages, by its execution id. */
    execution: z.uuid({ error: 'must be an execution id (a UUID)' }).optional(),
    channel: z.enum(OUTBOX_CHANNELS).optional(),
    limit: wholeNumber(1, 200).default(50),
  })
  .strict();

export function publicOutboxMessage(row: Awaited<ReturnType<typeof listOutbox>>[number]) {
  return {
    id: row.id,
    channel: row.channel,
    recipient: row.recipient,
    /** Recorded, not delivered: always false, so a reader cannot take it for a delivery. */
    delivered: false as const,
    executionId: row.execution_id,
    workflowId: row.workflow_id,
    stepPath: row.step_path,
    message: row.message,
    createdAt: row.created_at,
  };
}

export function outboxRoutes({ db }: GatewayDeps): Router {
  const router = Router();
  router.get('/api/outbox', requireRole('operator'), async (req, res) => {
    const query = parseRequest(outboxQuery, req.query, 'query');
    const rows = await listOutbox(db, { executionId: query.execution, channel: query.channel, limit: query.limit });
    res.json({ items: rows.map(publicOutboxMessage), limit: query.limit });
  });
  return router;
}
