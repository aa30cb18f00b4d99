/**
 * `GET /api/outbox`: the dev outbox (DEV_OUTBOX), what notification steps
 * recorded instead of sending because their channel had no credentials —
 * newest first, for one run or all. Operators may read it: the messages name
 * their recipients. Empty where DEV_OUTBOX has never been on.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { CHANNEL_TYPES } from '../../../channels';
import { listOutbox } from '../../../db/dev-outbox';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { named, type Operations, uuid } from '../operations';
import { parseRequest, wholeNumber } from '../validate';

/** The channels that record in the outbox (activities/outbox.ts): every notification channel. */
export const OUTBOX_CHANNELS = CHANNEL_TYPES;

export const outboxQuery = z
  .object({
    /** One run's messages, by its execution id. */
    execution: z.uuid({ error: 'must be an execution id (a UUID)' }).optional(),
    channel: z.enum(OUTBOX_CHANNELS).optional(),
    limit: wholeNumber(1, 200).default(50),
  })
  .strict();

const outboxMessageSchema = z.object({
  id: uuid,
  channel: z.enum(OUTBOX_CHANNELS),
  recipient: z.string().nullable(),
  delivered: z.literal(false).meta({ description: 'recorded, not delivered: the channel had no credentials' }),
  executionId: uuid.nullable().meta({ description: "the run's execution id; null when its mirror row is gone" }),
  workflowId: z.string(),
  stepPath: z.string(),
  message: z.record(z.string(), z.unknown()).meta({ description: 'what the provider would have received, as the step rendered it' }),
  createdAt: z.string(),
});
const outboxListSchema = named('OutboxList', z.object({ items: z.array(outboxMessageSchema), limit: z.int() }));

export const outboxOperations = {
  'GET /api/outbox': {
    tag: 'Executions',
    summary: 'The dev outbox: messages recorded, not delivered, for want of channel credentials',
    description:
      'With `DEV_OUTBOX` on (development only), an email, SMS, Slack or Teams step whose channel has no credentials records its message here instead of sending it. Newest first; empty where it has never been on.',
    access: 'operator',
    query: {
      schema: outboxQuery,
      docs: {
        execution: { description: "one run's messages (its execution id), its foreach slices' included", example: '3f2a1c9e-8b7d-4e6f-a5c4-1d2e3f4a5b6c' },
        channel: { description: 'one channel' },
        limit: { description: 'how many' },
      },
    },
    answers: { 200: { description: 'the messages, newest first', schema: outboxListSchema } },
    problems: ['validation_failed'],
  },
} satisfies Operations;

// Not typed by the schema: the table's channel and message columns are looser than what the outbox writes in them.
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
  const { router, serve } = declaredRouter(outboxOperations);
  serve('GET /api/outbox', async (req, res) => {
    const query = parseRequest(outboxQuery, req.query, 'query');
    const rows = await listOutbox(db, { executionId: query.execution, channel: query.channel, limit: query.limit });
    res.json({ items: rows.map(publicOutboxMessage), limit: query.limit });
  });
  return router;
}
