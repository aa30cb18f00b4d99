/**
 * The `email` step's sender: one message over SMTP through nodemailer, with
 * attachments given inline or fetched (through the `http` step's address
 * guard) when the message is actually sent.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import nodemailer, { type Transporter } from 'nodemailer';
import { z } from 'zod';
import type { ChannelSettings } from '../../activities/connections';
import { type Ledger, SendFailure } from '../../activities/delivery';
import { parseInput, permanent, transient, recipientField } from '../../activities/failures';
import { type AddressGuard, createAddressGuard, fetchGuarded, statusFailure } from '../../activities/http';
import { joinNames, type Outbox, type OutboxResult } from '../../activities/outbox';
import type { Config } from '../../src/config';
import { checkEmailRecipients } from '../../src/shared/recipients';
import type { Rendered } from '../../src/shared/run';
import { HEADER_NAME, SECRET_NAME } from '../../src/shared/step-fields';
import { connectionInput, deliveryKeyInput, deliveryPolicyInput } from '../schema';
import { EMAIL_MAX_ATTACHMENTS, emailFields } from './schema';

/** One plain address, or a list of them: never text that names several (see src/shared/recipients). */
const addresses = recipientField(checkEmailRecipients);

/** Who the message goes to, checked on its own first: a bad one fails the step as `InvalidRecipient`. */
export const emailRecipientsInput = z.object({
  to: addresses,
  cc: addresses.optional(),
  bcc: addresses.optional(),
  replyTo: addresses.optional(),
});

export const sendEmailInput = emailRecipientsInput.extend({
  deliveryKey: deliveryKeyInput,
  subject: emailFields.subject,
  text: emailFields.text,
  html: emailFields.html,
  /** Checked on their own by {@link emailAttachmentInput}: a bad attachment is no bad recipient. */
  attachments: z.array(z.unknown()).max(EMAIL_MAX_ATTACHMENTS).optional(),
  delivery: deliveryPolicyInput,
  connection: connectionInput,
  /** How long one attachment download may take. */
  fetchTimeoutMs: z.number().int().min(100).max(300_000).default(30_000),
});

/** A media type such as `application/pdf` or `text/csv; charset=utf-8`. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;[^\r\n]*)?$/;

export const emailAttachmentInput = z
  .object({
    // eslint-disable-next-line no-control-regex
    filename: z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f/\\]+$/, 'must be a file name without control characters or slashes'),
    contentType: z.string().max(255).regex(MEDIA_TYPE, 'must be a media type such as application/pdf').optional(),
    url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).optional(),
    /** Text (any other JSON value is attached as JSON text), or base64. */
    content: z.unknown().optional(),
    encoding: z.enum(['text', 'base64']).default('text'),
    /** Header name → name of a configured secret (HTTP_SECRET_<NAME>) sent when fetching `url`. */
    secretHeaders: z.record(z.string().regex(HEADER_NAME, 'must be an HTTP header name'), z.string().regex(SECRET_NAME)).default({}),
  })
  .refine((a) => (a.url === undefined) !== (a.content === undefined), {
    message: 'needs either url or content (a template may have given no value)',
  })
  .refine((a) => a.url !== undefined || Object.keys(a.secretHeaders).length === 0, {
    message: 'secretHeaders apply to an attachment fetched from url only',
    path: ['secretHeaders'],
  });

type EmailAttachmentInput = z.output<typeof emailAttachmentInput>;

export type SendEmailInput = Rendered<z.input<typeof sendEmailInput>>;

export interface SendEmailResult {
  messageId: string;
  accepted: string[];
  /** What was attached, when anything was. */
  attachments?: { filename: string; bytes: number }[];
}

interface ResolvedAttachment {
  filename: string;
  content: Buffer;
  contentType?: string | undefined;
}

/** SMTP errors that mean the connection, not the message, failed. */
const NETWORK_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EGREETING']);

export function createEmailSender(config: Config, ledger: Ledger, outbox: Outbox, settings: ChannelSettings) {
  const guard = createAddressGuard(config.outbound.allowedHosts);
  // The environment's transport is built on first use, so a worker without SMTP settings still starts;
  // a connection's is made for its send, with the version it opened.
  let environmentTransport: Transporter | undefined;
  const transportOf = (smtp: Config['smtp']) =>
    nodemailer.createTransport({
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

  return async function sendEmail(raw: SendEmailInput): Promise<SendEmailResult | OutboxResult> {
    parseInput(emailRecipientsInput, raw, 'email', 'InvalidRecipient');
    const input = parseInput(sendEmailInput, raw, 'email', 'ProviderRejected');
    const { settings: smtp, connection } = await settings.settings('smtp', input.connection);
    const getTransport = () => (input.connection ? transportOf(smtp) : (environmentTransport ??= transportOf(config.smtp)));
    const { attachments: specs } = parseInput(
      z.object({ attachments: z.array(emailAttachmentInput).default([]) }),
      { attachments: input.attachments },
      'email',
      'ProviderRejected',
    );
    // Inline attachments are checked before anything is claimed or sent; fetched ones when the message goes out.
    const limits = new AttachmentBudget(smtp.maxAttachmentBytes, smtp.maxTotalAttachmentBytes);
    const inline = specs.map((spec) => (spec.url === undefined ? limits.take(spec.filename, decodeContent(spec)) : undefined));
    const missing = [...(smtp.host ? [] : ['SMTP_HOST']), ...(smtp.from ? [] : ['SMTP_FROM'])];
    if (missing.length > 0) {
      const { to, cc, bcc, replyTo, subject, text, html } = input;
      // What would be attached, not the bytes: files named by URL are not fetched.
      const attachments = specs.map((spec, i) => ({
        filename: spec.filename,
        contentType: spec.contentType,
        ...(spec.url !== undefined ? { url: spec.url } : { bytes: inline[i]?.bytes.length }),
      }));
      return outbox.hold({
        deliveryKey: input.deliveryKey,
        channel: 'email',
        recipient: [to].flat().join(', '),
        message: { to, cc, bcc, replyTo, subject, text, html, attachments },
        missing,
        reason: `email is not configured: set ${joinNames(missing)}`,
      });
    }
    // Secret values are looked up here and live only in this call: never in the input, result or errors.
    const fetchHeaders = specs.map((spec) => secretHeaderValues(spec, config.outbound.secrets));
    return ledger.deliver({
      key: input.deliveryKey,
      channel: 'email',
      recipient: [input.to].flat().join(', '),
      connection,
      policy: input.delivery,
      send: async () => {
        const attachments: ResolvedAttachment[] = [];
        for (const [i, spec] of specs.entries()) {
          const content = inline[i] ?? (await fetchAttachment(spec, fetchHeaders[i] ?? {}, limits, guard, input.fetchTimeoutMs));
          attachments.push({ filename: spec.filename, content: content.bytes, contentType: spec.contentType ?? content.contentType });
        }
        try {
          const info = await getTransport().sendMail({
            from: smtp.from,
            // Address objects, which nodemailer takes as they are: text would be parsed again as a list.
            to: mailboxes(input.to),
            cc: mailboxes(input.cc),
            bcc: mailboxes(input.bcc),
            replyTo: mailboxes(input.replyTo),
            subject: input.subject,
            text: input.text,
            html: input.html,
            attachments: attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
            // The same Message-ID on every send of one delivery: a copy sent again after a crash
            // in the ledger's blind spot is one message to the mail stores that merge by it.
            messageId: deliveryMessageId(input.deliveryKey, smtp.from),
            headers: { 'X-Delivery-Key': input.deliveryKey },
            // Nothing in a message may make nodemailer read a file or a URL itself.
            disableFileAccess: true,
            disableUrlAccess: true,
          });
          const result: SendEmailResult = { messageId: info.messageId, accepted: (info.accepted ?? []).map(String) };
          if (attachments.length > 0) result.attachments = attachments.map((a) => ({ filename: a.filename, bytes: a.content.length }));
          return { result, providerMessageId: info.messageId };
        } catch (err) {
          throw classifySmtpError(err);
        }
      },
    });
  };
}

function mailboxes(value: string | string[] | undefined): { name: string; address: string }[] | undefined {
  return value === undefined ? undefined : [value].flat().map((address) => ({ name: '', address }));
}

/** A Message-ID made of the delivery key: `<hash.wfa@domain of the sender>`. */
export function deliveryMessageId(deliveryKey: string, from: string | undefined): string {
  const domain = /@([^\s@>]+)>?\s*$/.exec(from ?? '')?.[1] ?? 'localhost';
  return `<${createHash('sha256').update(deliveryKey).digest('hex').slice(0, 32)}.wfa@${domain}>`;
}

/** Keeps attachments within the size allowed for one file and for the message. */
class AttachmentBudget {
  private used = 0;

  constructor(
    readonly perFile: number,
    readonly total: number,
  ) {}

  /** The most the next file may hold, and the failure for one that holds more. */
  limitFor(filename: string): { maxBytes: number; failure: () => ApplicationFailure } {
    const remaining = this.total - this.used;
    return remaining < this.perFile
      ? {
          maxBytes: Math.max(0, remaining),
          failure: () =>
            permanent('ProviderRejected', `attachment "${filename}" takes the attachments past ${this.total} bytes in total (EMAIL_MAX_TOTAL_ATTACHMENT_BYTES)`),
        }
      : {
          maxBytes: this.perFile,
          failure: () => permanent('ProviderRejected', `attachment "${filename}" is larger than ${this.perFile} bytes (EMAIL_MAX_ATTACHMENT_BYTES)`),
        };
  }

  take(filename: string, bytes: Buffer, contentType?: string): { bytes: Buffer; contentType?: string | undefined } {
    const { maxBytes, failure } = this.limitFor(filename);
    if (bytes.length > maxBytes) throw failure();
    this.used += bytes.length;
    return { bytes, contentType };
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeContent(spec: EmailAttachmentInput): Buffer {
  const { content, filename } = spec;
  if (content === null) throw permanent('ProviderRejected', `attachment "${filename}" has no content (its template gave null)`);
  if (spec.encoding === 'base64') {
    const compact = typeof content === 'string' ? content.replace(/\s+/g, '') : undefined;
    if (compact === undefined || !BASE64.test(compact)) throw permanent('ProviderRejected', `attachment "${filename}" is not valid base64`);
    return Buffer.from(compact, 'base64');
  }
  return Buffer.from(typeof content === 'string' ? content : JSON.stringify(content), 'utf8');
}

/**
 * Downloads an attachment through the address guard, within what the budget
 * allows. Any failure means the message was not sent.
 */
async function fetchAttachment(
  spec: EmailAttachmentInput,
  secretHeaders: Record<string, string>,
  limits: AttachmentBudget,
  guard: AddressGuard,
  timeoutMs: number,
) {
  const { maxBytes, failure } = limits.limitFor(spec.filename);
  const about = `attachment "${spec.filename}": `;
  try {
    const res = await fetchGuarded(new URL(spec.url ?? ''), {
      method: 'GET',
      headers: { 'user-agent': 'workflow-automation', accept: '*/*', ...secretHeaders },
      credentialHeaders: Object.keys(secretHeaders),
      timeoutMs,
      maxBytes,
      tooLarge: failure,
      guard,
    });
    const refused = statusFailure(res, about);
    if (refused) throw refused;
    if (res.status < 200 || res.status >= 300) throw permanent('ProviderRejected', `${about}${res.url.host} answered HTTP ${res.status}`);
    const type = res.headers['content-type'];
    return limits.take(spec.filename, res.body, type && MEDIA_TYPE.test(type) ? type : undefined);
  } catch (err) {
    const cause = err instanceof ApplicationFailure ? err : transient('ProviderUnavailable', String(err));
    const named = cause.message.startsWith(about) || cause.message.startsWith('attachment "') ? cause : renamed(cause, `${about}${cause.message}`);
    throw new SendFailure(named, false);
  }
}

/**
 * The headers an attachment names by secret, with their values from
 * configuration. A secret that is not configured fails the step at once,
 * before anything is claimed or sent.
 */
function secretHeaderValues(spec: EmailAttachmentInput, secrets: Readonly<Record<string, string>>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [header, name] of Object.entries(spec.secretHeaders)) {
    const value = secrets[name];
    if (value === undefined) {
      throw permanent('ChannelNotConfigured', `attachment "${spec.filename}" names secret "${name}", which is not configured (HTTP_SECRET_${name})`);
    }
    headers[header.toLowerCase()] = value;
  }
  return headers;
}

function renamed(failure: ApplicationFailure, message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: failure.type ?? undefined,
    message,
    nonRetryable: failure.nonRetryable ?? undefined,
    ...(failure.nextRetryDelay !== undefined ? { nextRetryDelay: failure.nextRetryDelay } : {}),
  });
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
