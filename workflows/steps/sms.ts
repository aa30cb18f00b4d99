import type { SmsStep } from '../../src/shared/definition';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runSms: StepHandler<SmsStep> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ to: step.to, body: step.body }, step);
  const rendered = rendering instanceof Promise ? await rendering : rendering;
  return deliver(step, path, ctx, () =>
    ctx.activities(ctx.activityOptions(step, 'send SMS')).sendSms({
      deliveryKey: ctx.deliveryKey(path),
      ...rendered,
      delivery: step.delivery,
    }),
  );
};
