/**
 * The `pagerduty` step's sender: one event to PagerDuty's Events API v2
 * (`POST /v2/enqueue`), with the service's routing key from configuration. The
 * routing key never enters the run: not its input, its output, the ledger,
 * the outbox or an error.
 */
import { createHash } from 'node:crypto';
import type { ChannelSettings } from '../../activities/connections';
import type { Ledger } from '../../activities/delivery';
import { parseInput } from '../../activities/failures';
import type { Outbox, OutboxResult } from '../../activities/outbox';
import { postJson } from '../../activities/webhook';
import type { Config } from '../../src/config';
import type { Rendered } from '../../src/shared/run';
import type { z } from 'zod';
import { sendPagerDutyInput } from './schema';

export type SendPagerDutyInput = Rendered<z.input<typeof sendPagerDutyInput>>;

export interface SendPagerDutyResult {
  action: 'trigger' | 'acknowledge' | 'resolve';
  /** The incident's key, for a later step to acknowledge or resolve it: `{{ steps.<id>.output.dedupKey }}`. */
  dedupKey: string;
  /** PagerDuty's word for the event, `success`. */
  status: string;
}

/** PagerDuty's limit on a dedup key. */
const MAX_DEDUP_KEY = 255;

/**
 * The dedup key of a trigger that names none: its delivery key (the run's
 * workflow id and the step's path), so a trigger sent again after a crash
 * adds to the same incident instead of opening a second; hashed when longer
 * than PagerDuty allows.
 */
export function defaultDedupKey(deliveryKey: string): string {
  return deliveryKey.length <= MAX_DEDUP_KEY ? deliveryKey : `wfa-${createHash('sha256').update(deliveryKey).digest('hex')}`;
}

export function createPagerDutySender(_config: Config, ledger: Ledger, outbox: Outbox, settings: ChannelSettings) {
  return async function sendPagerDuty(raw: SendPagerDutyInput): Promise<SendPagerDutyResult | OutboxResult> {
    const input = parseInput(sendPagerDutyInput, raw, 'pagerduty', 'ProviderRejected');
    const dedupKey = input.dedupKey ?? defaultDedupKey(input.deliveryKey);
    const event = {
      event_action: input.action,
      dedup_key: dedupKey,
      ...(input.action === 'trigger'
        ? { payload: { summary: input.summary, source: input.source, severity: input.severity, custom_details: input.customDetails } }
        : {}),
    };
    const { settings: pagerduty, connection } = await settings.settings('pagerduty', input.connection);
    const routingKey = pagerduty.routingKey;
    if (!routingKey) {
      return outbox.hold({
        deliveryKey: input.deliveryKey,
        channel: 'pagerduty',
        recipient: dedupKey,
        message: { action: input.action, dedupKey, summary: input.summary, source: input.source, severity: input.severity, customDetails: input.customDetails },
        missing: ['PAGERDUTY_ROUTING_KEY'],
        reason: 'PagerDuty is not configured: set PAGERDUTY_ROUTING_KEY',
      });
    }
    return ledger.deliver({
      key: input.deliveryKey,
      channel: 'pagerduty',
      recipient: dedupKey,
      connection,
      policy: input.delivery,
      send: async () => {
        const answer = parseAnswer(await postJson(pagerduty.eventsUrl, { routing_key: routingKey, ...event }, 'PagerDuty Events API'));
        const result: SendPagerDutyResult = { action: input.action, dedupKey: answer.dedup_key ?? dedupKey, status: answer.status ?? 'success' };
        return { result, providerMessageId: result.dedupKey };
      },
    });
  };
}

/** PagerDuty answers `{"status": "success", "message": "Event processed", "dedup_key": "…"}`; anything else is taken as accepted. */
function parseAnswer(text: string): { status?: string; dedup_key?: string } {
  try {
    const body = JSON.parse(text) as unknown;
    if (!body || typeof body !== 'object') return {};
    const { status, dedup_key } = body as Record<string, unknown>;
    return { ...(typeof status === 'string' ? { status } : {}), ...(typeof dedup_key === 'string' ? { dedup_key } : {}) };
  } catch {
    return {};
  }
}
