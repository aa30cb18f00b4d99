import { parseDuration } from '../../src/shared/duration';
import type { EmailStep } from '../../src/shared/definition';
import { literalAddressList } from '../../src/shared/recipients';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runEmail: StepHandler<EmailStep> = async (step, path, ctx) => {
  const { to, cc, bcc, replyTo, subject, text, html, attachments } = step;
  const rendering = ctx.renderFields(
    { to: asWritten(to), cc: asWritten(cc), bcc: asWritten(bcc), replyTo: asWritten(replyTo), subject, text, html, attachments },
    step,
  );
  const rendered = rendering instanceof Promise ? await rendering : rendering;
  return deliver(step, path, ctx, () =>
    ctx.activities(ctx.activityOptions(step, 'send email')).sendEmail({
      deliveryKey: ctx.deliveryKey(path),
      ...rendered,
      delivery: step.delivery,
      // Attachment downloads give up before the step's timeout, leaving the activity room to report why.
      fetchTimeoutMs: step.timeout && attachments ? Math.max(100, (parseDuration(step.timeout) ?? 30_000) - 500) : undefined,
    }),
  );
};

/**
 * A literal recipient saved before lists had to be arrays (`"a@x.com, b@y.com"`,
 * `"Ops" <ops@x.com>`) is read as the addresses it names, so such versions,
 * and runs started from them, keep sending where they sent. Templated values
 * are never split: what they render must be one address or a JSON array.
 */
function asWritten<T extends string | string[] | undefined>(value: T): T | string[] {
  return typeof value === 'string' ? (literalAddressList(value) ?? value) : value;
}
