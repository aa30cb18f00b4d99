import type { SlackStep } from '../../src/shared/definition';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runSlack: StepHandler<SlackStep> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ channel: step.channel, text: step.text, blocks: step.blocks, threadTs: step.threadTs }, step);
  const rendered = rendering instanceof Promise ? await rendering : rendering;
  return deliver(step, path, ctx, () =>
    ctx.activities(ctx.activityOptions(step, 'post to Slack')).sendSlack({
      deliveryKey: ctx.deliveryKey(path),
      ...rendered,
      delivery: step.delivery,
    }),
  );
};
