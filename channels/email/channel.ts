/**
 * The `email` step: one message over SMTP, with attachments given inline or
 * fetched when the message is sent.
 */
import { parseDuration } from '../../src/shared/duration';
import { literalAddressList } from '../../src/shared/recipients';
import { defineChannel } from '../channel';
import type { EmailFields } from './schema';

export const emailChannel = defineChannel({
  type: 'email',
  label: 'email',
  activity: 'sendEmail',
  summary: 'send email',
  message: ({ to, cc, bcc, replyTo, subject, text, html, attachments }: EmailFields) => ({
    to: asWritten(to),
    cc: asWritten(cc),
    bcc: asWritten(bcc),
    replyTo: asWritten(replyTo),
    subject,
    text,
    html,
    attachments,
  }),
  // Attachment downloads give up before the step's timeout, leaving the activity room to report why.
  extra: (step) => ({
    fetchTimeoutMs: step.timeout && step.attachments ? Math.max(100, (parseDuration(step.timeout) ?? 30_000) - 500) : undefined,
  }),
});

/**
 * A literal recipient saved before lists had to be arrays (`"a@x.com, b@y.com"`,
 * `"Ops" <ops@x.com>`) is read as the addresses it names, so such versions,
 * and runs started from them, keep sending where they sent. Templated values
 * are never split: what they render must be one address or a JSON array.
 */
function asWritten<T extends string | string[] | undefined>(value: T): T | string[] {
  return typeof value === 'string' ? (literalAddressList(value) ?? value) : value;
}
