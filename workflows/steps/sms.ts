import type { SmsStep } from '../../src/shared/definition';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runSms: StepHandler<SmsStep> = async (step, path, ctx) => {
  const rendered = await ctx.renderFields({ to: step.to, body: step.body }, step);
  return deliver(step, path, ctx, () =>
    ctx.activities(ctx.activityOptions(step, 'send SMS')).sendSms({
      deliveryKey: ctx.deliveryKey(path),
      ...rendered,
      delivery: step.delivery,
    }),
  );
};
