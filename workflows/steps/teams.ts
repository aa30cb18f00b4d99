import type { TeamsStep } from '../../src/shared/definition';
import type { StepHandler } from './types';

export const runTeams: StepHandler<TeamsStep> = async (step, path, ctx) => {
  const rendered = await ctx.renderFields({ title: step.title, text: step.text, card: step.card }, step);
  await ctx.flush();
  return ctx.activities(ctx.activityOptions(step, 'post to Teams')).sendTeams({
    deliveryKey: ctx.deliveryKey(path),
    ...rendered,
    delivery: step.delivery,
  });
};
