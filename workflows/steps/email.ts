import type { EmailStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runEmail: StepHandler<EmailStep> = async (step, path, ctx) => {
  const { to, cc, bcc, replyTo, subject, text, html } = step;
  const rendered = (await ctx.render({ to, cc, bcc, replyTo, subject, text, html }, step)) as Record<string, unknown>;
  await ctx.flush();
  return ctx.activities(ctx.activityOptions(step, 'send email')).sendEmail({
    deliveryKey: ctx.deliveryKey(path),
    to: rendered.to,
    cc: rendered.cc,
    bcc: rendered.bcc,
    replyTo: rendered.replyTo,
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
  });
};
