/** The `sms` step's sender: one text message through Twilio's Messages API. */
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient';
import { z } from 'zod';
import type { ChannelSettings } from '../../activities/connections';
import { type Ledger, SendFailure } from '../../activities/delivery';
import { parseInput, permanent, transient, recipientField } from '../../activities/failures';
import { joinNames, type Outbox, type OutboxResult } from '../../activities/outbox';
import type { Config } from '../../src/config';
import { checkPhoneNumber } from '../../src/shared/recipients';
import type { Rendered } from '../../src/shared/run';
import { connectionInput, deliveryKeyInput, deliveryPolicyInput } from '../schema';
import { smsFields } from './schema';

/** Who the message goes to, checked on its own first: a bad number fails the step as `InvalidRecipient`. */
export const smsRecipientInput = z.object({
  /** One E.164 number: a plus, a country code, at most fifteen digits in all. */
  to: recipientField(checkPhoneNumber),
});

export const sendSmsInput = smsRecipientInput.extend({
  deliveryKey: deliveryKeyInput,
  body: smsFields.body,
  delivery: deliveryPolicyInput,
  connection: connectionInput,
});

export type SendSmsInput = Rendered<z.input<typeof sendSmsInput>>;

export interface SendSmsResult {
  sid: string;
  status: string;
  to: string;
}

/** Twilio error codes that name a recipient problem: never retried. */
const RECIPIENT_ERRORS = new Set([21211, 21214, 21408, 21610, 21612, 21614, 21217]);

/**
 * Sends requests to `baseUrl` instead of Twilio's hosts (a proxy, or a
 * loopback stand-in in tests); everything else is the stock client.
 */
export class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ timeout: 15_000, autoRetry: false });
  }

  override request<T>(opts: TwilioRequestClient.RequestOptions<T>) {
    const uri = new URL(opts.uri);
    return super.request<T>({ ...opts, uri: `${this.baseUrl.replace(/\/$/, '')}${uri.pathname}${uri.search}` });
  }
}

export function createSmsSender({ twilio: environment }: Config, ledger: Ledger, outbox: Outbox, channelSettings: ChannelSettings) {
  // The environment's client is kept; a connection's is made for its send, with the version it opened.
  let environmentClient: twilio.Twilio | undefined;
  const clientOf = (settings: Config['twilio']) =>
    twilio(settings.accountSid, settings.authToken, {
      // Twilio's own retry on 429 stays off: the step's retry policy is the only one.
      autoRetry: false,
      timeout: 15_000,
      ...(settings.apiUrl ? { httpClient: new RedirectingRequestClient(settings.apiUrl) } : {}),
    });

  return async function sendSms(raw: SendSmsInput): Promise<SendSmsResult | OutboxResult> {
    parseInput(smsRecipientInput, raw, 'sms', 'InvalidRecipient');
    const input = parseInput(sendSmsInput, raw, 'sms', 'ProviderRejected');
    const { settings, connection } = await channelSettings.settings('twilio', input.connection);
    const getClient = () => (input.connection ? clientOf(settings) : (environmentClient ??= clientOf(environment)));
    const missing = [
      ...(settings.accountSid ? [] : ['TWILIO_ACCOUNT_SID']),
      ...(settings.authToken ? [] : ['TWILIO_AUTH_TOKEN']),
      ...(settings.phoneNumber || settings.messagingServiceSid ? [] : ['TWILIO_PHONE_NUMBER']),
    ];
    if (missing.length > 0) {
      const sender = missing.includes('TWILIO_PHONE_NUMBER') ? ' (or TWILIO_MESSAGING_SERVICE_SID instead of the phone number)' : '';
      return outbox.hold({
        deliveryKey: input.deliveryKey,
        channel: 'sms',
        recipient: input.to,
        message: { to: input.to, body: input.body },
        missing,
        reason: `SMS is not configured: set ${joinNames(missing)}${sender}`,
      });
    }
    return ledger.deliver({
      key: input.deliveryKey,
      channel: 'sms',
      recipient: input.to,
      connection,
      policy: input.delivery,
      send: async () => {
        try {
          const message = await getClient().messages.create({
            to: input.to,
            body: input.body,
            ...(settings.messagingServiceSid
              ? { messagingServiceSid: settings.messagingServiceSid }
              : { from: settings.phoneNumber }),
          });
          return { result: { sid: message.sid, status: message.status, to: message.to }, providerMessageId: message.sid };
        } catch (err) {
          throw classifyTwilioError(err);
        }
      },
    });
  };
}

function classifyTwilioError(err: unknown): SendFailure {
  const e = err as { status?: number; code?: number | string; message?: string };
  if (typeof e.status === 'number') {
    const message = `Twilio ${e.status}${typeof e.code === 'number' ? ` (error ${e.code})` : ''}: ${e.message ?? ''}`;
    if (typeof e.code === 'number' && RECIPIENT_ERRORS.has(e.code)) return new SendFailure(permanent('InvalidRecipient', message), false);
    if (e.status === 401 || e.status === 403) return new SendFailure(permanent('ProviderAuthFailed', message), false);
    if (e.status === 429) return new SendFailure(transient('ProviderRateLimited', message), false);
    if (e.status >= 500 || e.status === 408) return new SendFailure(transient('ProviderUnavailable', message), false);
    return new SendFailure(permanent('ProviderRejected', message), false);
  }
  const code = typeof e.code === 'string' ? e.code : '';
  const notSent = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
  return new SendFailure(transient('ProviderUnavailable', `Twilio could not be reached: ${code || e.message}`), !notSent);
}
