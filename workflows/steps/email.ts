import type { EmailStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runEmail: StepHandler<EmailStep> = async (step, path, ctx) => {
  const { to, cc, bcc, replyTo, subject, text, html } = step;
  const rendered = await ctx.renderFields({ to, cc, bcc, replyTo, subject, text, html }, step);
  await ctx.flush();
  return ctx.activities(ctx.activityOptions(step, 'send email')).sendEmail({
    deliveryKey: ctx.deliveryKey(path),
    ...rendered,
    delivery: step.delivery,
  });
};
