/**
 * The `slack` step's sender: `chat.postMessage` with a bot token, or the
 * configured incoming webhook when the step names no channel or no token is set.
 */
import { type Block, ErrorCode, WebClient } from '@slack/web-api';
import { z } from 'zod';
import type { ChannelSettings } from '../../activities/connections';
import { type Ledger, SendFailure } from '../../activities/delivery';
import { parseInput, permanent, transient, recipientField } from '../../activities/failures';
import type { Outbox, OutboxResult } from '../../activities/outbox';
import { postJson } from '../../activities/webhook';
import type { Config } from '../../src/config';
import { checkSlackChannel } from '../../src/shared/recipients';
import type { Rendered } from '../../src/shared/run';
import { connectionInput, deliveryKeyInput, deliveryPolicyInput } from '../schema';
import { slackFields, slackThreadTsInput } from './schema';

/** Where the message goes, checked on its own first: a bad channel fails the step as `InvalidRecipient`. */
export const slackRecipientInput = z.object({
  /** One channel id or name; without it the configured incoming webhook is used. */
  channel: recipientField(checkSlackChannel).optional(),
});

export const sendSlackInput = slackRecipientInput.extend({
  deliveryKey: deliveryKeyInput,
  text: slackFields.text,
  blocks: slackFields.blocks,
  threadTs: slackThreadTsInput.optional(),
  delivery: deliveryPolicyInput,
  connection: connectionInput,
});

/** What a message holds besides where it goes. */
type SlackMessage = Pick<z.output<typeof sendSlackInput>, 'text' | 'blocks' | 'threadTs'>;

export type SendSlackInput = Rendered<z.input<typeof sendSlackInput>>;

export interface SendSlackResult {
  mode: 'api' | 'webhook';
  channel?: string | undefined;
  ts?: string | undefined;
}

/** Platform errors that no retry can fix. */
const PERMANENT_PLATFORM_ERRORS: Record<string, 'InvalidRecipient' | 'ProviderAuthFailed' | 'ProviderRejected'> = {
  channel_not_found: 'InvalidRecipient',
  not_in_channel: 'InvalidRecipient',
  is_archived: 'InvalidRecipient',
  invalid_auth: 'ProviderAuthFailed',
  not_authed: 'ProviderAuthFailed',
  account_inactive: 'ProviderAuthFailed',
  token_revoked: 'ProviderAuthFailed',
  missing_scope: 'ProviderAuthFailed',
  no_text: 'ProviderRejected',
  msg_too_long: 'ProviderRejected',
  invalid_blocks: 'ProviderRejected',
};

export function createSlackSender({ slack: environment }: Config, ledger: Ledger, outbox: Outbox, settings: ChannelSettings) {
  // The environment's client is kept; a connection's is made for its send, with the version it opened.
  let environmentClient: WebClient | undefined;
  const clientOf = (slack: Config['slack']) =>
    new WebClient(slack.botToken, {
      ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}),
      // The client's own retries run for about thirty minutes and can post
      // twice; the step's retry policy is the only retry.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: 15_000,
    });

  return async function sendSlack(raw: SendSlackInput): Promise<SendSlackResult | OutboxResult> {
    parseInput(slackRecipientInput, raw, 'slack', 'InvalidRecipient');
    const input = parseInput(sendSlackInput, raw, 'slack', 'ProviderRejected');
    const { settings: slack, connection } = await settings.settings('slack', input.connection);
    const getClient = () => (input.connection ? clientOf(slack) : (environmentClient ??= clientOf(environment)));
    const send = input.channel && slack.botToken
      ? () => postWithApi(getClient(), input.channel ?? '', input)
      : slack.webhookUrl
        ? () => postWithWebhook(slack.webhookUrl ?? '', input)
        : undefined;
    if (send) {
      return ledger.deliver({
        key: input.deliveryKey,
        channel: 'slack',
        recipient: input.channel ?? 'webhook',
        connection,
        policy: input.delivery,
        send: async () => {
          const result = await send();
          return { result, providerMessageId: result.ts };
        },
      });
    }
    return outbox.hold({
      deliveryKey: input.deliveryKey,
      channel: 'slack',
      recipient: input.channel ?? 'webhook',
      message: { channel: input.channel, text: input.text, blocks: input.blocks, threadTs: input.threadTs },
      missing: [input.channel ? 'SLACK_BOT_TOKEN' : 'SLACK_WEBHOOK_URL'],
      reason: input.channel
        ? 'Slack is not configured: set SLACK_BOT_TOKEN to post to a channel'
        : 'Slack is not configured: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and a channel on the step',
    });
  };
}

async function postWithApi(client: WebClient, channel: string, message: SlackMessage): Promise<SendSlackResult> {
  try {
    // The client sends `blocks` JSON-encoded in the form body, as Slack expects.
    const res = await client.chat.postMessage({
      channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks as unknown as Block[] } : {}),
      ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    });
    return { mode: 'api', channel: res.channel, ts: res.ts };
  } catch (err) {
    throw classifySlackError(err);
  }
}

function classifySlackError(err: unknown): SendFailure {
  const e = err as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; message?: string };
  switch (e.code) {
    case ErrorCode.PlatformError: {
      const code = e.data?.error ?? 'unknown_error';
      const type = PERMANENT_PLATFORM_ERRORS[code];
      return new SendFailure(
        type ? permanent(type, `Slack refused the message: ${code}`) : transient('ProviderUnavailable', `Slack error: ${code}`),
        false,
      );
    }
    case ErrorCode.RateLimitedError:
      return new SendFailure(transient('ProviderRateLimited', 'Slack rate limit reached', (e.retryAfter ?? 1) * 1000), false);
    case ErrorCode.HTTPError:
      return new SendFailure(
        (e.statusCode ?? 500) >= 500 || e.statusCode === 408
          ? transient('ProviderUnavailable', `Slack answered HTTP ${e.statusCode}`)
          : permanent('ProviderRejected', `Slack answered HTTP ${e.statusCode}`),
        false,
      );
    default: {
      // A request that never connected did not post; one that broke later may have.
      const refused = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(e.message ?? '');
      return new SendFailure(transient('ProviderUnavailable', `Slack could not be reached: ${e.message ?? String(err)}`), !refused);
    }
  }
}

async function postWithWebhook(url: string, message: SlackMessage): Promise<SendSlackResult> {
  const body = { text: message.text, blocks: message.blocks, thread_ts: message.threadTs };
  return postJson(url, body, 'Slack webhook').then(() => ({ mode: 'webhook' as const }));
}
