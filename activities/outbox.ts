/**
 * The dev outbox: where a notification step's message goes when its channel
 * has no credentials and DEV_OUTBOX allows it, so a newcomer's `npm run dev`
 * runs every workflow without provider accounts. The message is recorded in
 * Postgres (one row per delivery key: a retried or reset step does not record
 * twice) and logged, and the step's output says it was not delivered.
 *
 * With DEV_OUTBOX off (the default outside development) the step fails at
 * once, naming the variables to set.
 */
import { asyncLocalStorage } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { ChannelType } from '../channels';
import { recordOutboxMessage } from '../db/dev-outbox';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import type { OutboxResult } from '../src/shared/run';
import { permanent } from './failures';
import { splitDeliveryKey } from './delivery';

export type { OutboxResult };

/** A message its channel cannot send for want of configuration. */
export interface Unsendable {
  deliveryKey: string;
  channel: ChannelType;
  recipient: string;
  /** What the provider would have received, as the step rendered it; never credentials. */
  message: Record<string, unknown>;
  /** Variables not set, e.g. `['SMTP_HOST', 'SMTP_FROM']`. */
  missing: string[];
  /** Why the channel cannot send, naming what to set, e.g. `email is not configured: set SMTP_HOST`. */
  reason: string;
}

/** Characters of the message shown in the log line. */
const PREVIEW_CHARS = 120;

export function createOutbox(config: Config, db: Kysely<Database>) {
  return {
    /**
     * Records the message in the dev outbox when DEV_OUTBOX is on; otherwise
     * throws a non-retryable `ChannelNotConfigured` failure with the reason.
     */
    async hold(u: Unsendable): Promise<OutboxResult> {
      if (!config.devOutbox) {
        const hint = config.env === 'production' ? '' : ' (or set DEV_OUTBOX=true to record such messages in the dev outbox)';
        throw permanent('ChannelNotConfigured', `${u.reason}${hint}`);
      }
      const { workflowId, stepPath } = splitDeliveryKey(u.deliveryKey);
      const recorded = await recordOutboxMessage(db, {
        delivery_key: u.deliveryKey,
        channel: u.channel,
        workflow_id: workflowId,
        step_path: stepPath,
        recipient: u.recipient,
        message: JSON.stringify(u.message),
      });
      const result: OutboxResult = { delivered: false, outbox: true, outboxId: recorded.id, channel: u.channel, missing: u.missing };
      if (recorded.fresh) {
        // The activity's logger carries the workflow and activity ids; outside a worker there is none.
        asyncLocalStorage.getStore()?.log.info(`dev outbox: ${u.channel} to ${u.recipient} recorded, not sent (${u.missing.join(', ')} not set)`, {
          outboxId: recorded.id,
          deliveryKey: u.deliveryKey,
          preview: preview(u.message),
        });
        return result;
      }
      return { ...result, deduplicated: true };
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;

/** `A`, `A and B`, `A, B and C`: variable names in a sentence. */
export function joinNames(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** The first words of a message, for the log line. */
function preview(message: Record<string, unknown>): string {
  const text = [message.subject, message.title, message.text, message.body].find((v): v is string => typeof v === 'string') ?? '';
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}
