/** The `email` step: one message over SMTP through nodemailer. */
import nodemailer, { type Transporter } from 'nodemailer';
import { z } from 'zod';
import type { Config } from '../src/config';
import { DELIVERY_POLICIES, type Ledger, SendFailure } from './delivery';
import type { Rendered } from '../src/shared/run';
import { parseInput, permanent, transient } from './failures';

const address = z.string().trim().min(3).max(320);
const addresses = z.union([address, z.array(address).min(1).max(100)]);

export const sendEmailInput = z.object({
  deliveryKey: z.string().min(1),
  to: addresses,
  cc: addresses.optional(),
  bcc: addresses.optional(),
  replyTo: address.optional(),
  subject: z.string().min(1).max(998),
  text: z.string().optional(),
  html: z.string().optional(),
  delivery: z.enum(DELIVERY_POLICIES).default('at-least-once'),
});

export type SendEmailInput = Rendered<z.input<typeof sendEmailInput>>;

export interface SendEmailResult {
  messageId: string;
  accepted: string[];
}

/** SMTP errors that mean the connection, not the message, failed. */
const NETWORK_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EGREETING']);

export function createEmailActivities(config: Config, ledger: Ledger) {
  const { smtp } = config;
  // Built on first use, so a worker without SMTP settings still starts.
  let transport: Transporter | undefined;
  const getTransport = () => {
    transport ??= nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
      // No pool: a pooled transport re-queues a message after a dropped
      // connection, a hidden retry beside the step's own retry policy.
      pool: false,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    return transport;
  };

  return {
    async sendEmail(raw: SendEmailInput): Promise<SendEmailResult> {
      const input = parseInput(sendEmailInput, raw, 'email', 'InvalidRecipient');
      if (!smtp.host || !smtp.from) {
        throw permanent('ChannelNotConfigured', 'email is not configured: set SMTP_HOST and SMTP_FROM');
      }
      return ledger.deliver({
        key: input.deliveryKey,
        channel: 'email',
        recipient: [input.to].flat().join(', '),
        policy: input.delivery,
        send: async () => {
          try {
            const info = await getTransport().sendMail({
              from: smtp.from,
              to: input.to,
              cc: input.cc,
              bcc: input.bcc,
              replyTo: input.replyTo,
              subject: input.subject,
              text: input.text,
              html: input.html,
              headers: { 'X-Delivery-Key': input.deliveryKey },
            });
            const result: SendEmailResult = { messageId: info.messageId, accepted: (info.accepted ?? []).map(String) };
            return { result, providerMessageId: info.messageId };
          } catch (err) {
            throw classifySmtpError(err);
          }
        },
      });
    },
  };
}

/** SMTP commands after which the server may already hold the message. */
const AFTER_HANDOVER = new Set(['DATA', 'MESSAGE', 'STREAM']);

function classifySmtpError(err: unknown): SendFailure {
  const e = err as { code?: string; responseCode?: number; command?: string; message?: string };
  const message = `SMTP ${e.responseCode ?? e.code ?? 'error'}: ${e.message ?? String(err)}`;
  if (e.code && NETWORK_CODES.has(e.code)) {
    return new SendFailure(transient('ProviderUnavailable', message), AFTER_HANDOVER.has(e.command ?? ''));
  }
  if (e.code === 'EAUTH') return new SendFailure(permanent('ProviderAuthFailed', message), false);
  if (e.code === 'EENVELOPE' || (e.responseCode !== undefined && e.responseCode >= 550 && e.responseCode <= 553)) {
    return new SendFailure(permanent('InvalidRecipient', message), false);
  }
  if (e.responseCode !== undefined && e.responseCode >= 500) return new SendFailure(permanent('ProviderRejected', message), false);
  return new SendFailure(transient('ProviderUnavailable', message), false);
}
