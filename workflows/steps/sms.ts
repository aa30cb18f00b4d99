import type { SmsStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runSms: StepHandler<SmsStep> = async (step, path, ctx) => {
  const rendered = await ctx.renderFields({ to: step.to, body: step.body }, step);
  await ctx.flush();
  return ctx.activities(ctx.activityOptions(step, 'send SMS')).sendSms({
    deliveryKey: ctx.deliveryKey(path),
    ...rendered,
    delivery: step.delivery,
  });
};
