import { parseDuration } from '../../src/shared/duration';
import type { EmailStep } from '../../src/shared/definition';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runEmail: StepHandler<EmailStep> = async (step, path, ctx) => {
  const { to, cc, bcc, replyTo, subject, text, html, attachments } = step;
  const rendering = ctx.renderFields({ to, cc, bcc, replyTo, subject, text, html, attachments }, step);
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
