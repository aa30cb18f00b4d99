/**
 * The `teams` step's sender: a message to a Microsoft Teams channel through a
 * Workflows (Power Automate) webhook, the replacement of the retired Office
 * 365 connectors. The payload is an Adaptive Card with a plain-text fallback.
 */
import type { z } from 'zod';
import type { ChannelSettings } from '../../activities/connections';
import type { Ledger } from '../../activities/delivery';
import { parseInput } from '../../activities/failures';
import type { Outbox, OutboxResult } from '../../activities/outbox';
import { postJson } from '../../activities/webhook';
import type { Config } from '../../src/config';
import type { Rendered } from '../../src/shared/run';
import { sendTeamsInput } from './schema';

export type SendTeamsInput = Rendered<z.input<typeof sendTeamsInput>>;

export interface SendTeamsResult {
  accepted: true;
}

export function adaptiveCardMessage(input: { title?: string | undefined; text: string; card?: Record<string, unknown>[] | undefined }) {
  const body = input.card ?? [
    ...(input.title ? [{ type: 'TextBlock', text: input.title, weight: 'Bolder', size: 'Medium', wrap: true }] : []),
    { type: 'TextBlock', text: input.text, wrap: true },
  ];
  return {
    type: 'message',
    // Shown where cards are not rendered (notifications, older clients).
    summary: input.title ?? input.text.slice(0, 200),
    text: input.title ? `${input.title}\n\n${input.text}` : input.text,
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body },
      },
    ],
  };
}

export function createTeamsSender(_config: Config, ledger: Ledger, outbox: Outbox, settings: ChannelSettings) {
  return async function sendTeams(raw: SendTeamsInput): Promise<SendTeamsResult | OutboxResult> {
    const input = parseInput(sendTeamsInput, raw, 'teams', 'ProviderRejected');
    const { settings: teams, connection } = await settings.settings('teams', input.connection);
    const url = teams.webhookUrl;
    if (!url) {
      return outbox.hold({
        deliveryKey: input.deliveryKey,
        channel: 'teams',
        recipient: 'webhook',
        message: { title: input.title, text: input.text, card: input.card },
        missing: ['TEAMS_WEBHOOK_URL'],
        reason: 'Teams is not configured: set TEAMS_WEBHOOK_URL',
      });
    }
    return ledger.deliver({
      key: input.deliveryKey,
      channel: 'teams',
      recipient: 'webhook',
      connection,
      policy: input.delivery,
      send: async () => {
        await postJson(url, adaptiveCardMessage(input), 'Teams webhook');
        return { result: { accepted: true as const } };
      },
    });
  };
}
