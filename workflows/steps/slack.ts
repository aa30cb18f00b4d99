import type { SlackStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runSlack: StepHandler<SlackStep> = async (step, path, ctx) => {
  const rendered = (await ctx.render({ channel: step.channel, text: step.text }, step)) as Record<string, unknown>;
  await ctx.flush();
  return ctx.activities(ctx.activityOptions(step, 'post to Slack')).sendSlack({
    deliveryKey: ctx.deliveryKey(path),
    channel: rendered.channel,
    text: rendered.text,
  });
};
