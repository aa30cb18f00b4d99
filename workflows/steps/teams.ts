import type { TeamsStep } from '../../src/shared/definition';
import { deliver } from './notify';
import type { StepHandler } from './types';

export const runTeams: StepHandler<TeamsStep> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ title: step.title, text: step.text, card: step.card }, step);
  const rendered = rendering instanceof Promise ? await rendering : rendering;
  return deliver(step, path, ctx, () =>
    ctx.activities(ctx.activityOptions(step, 'post to Teams')).sendTeams({
      deliveryKey: ctx.deliveryKey(path),
      ...rendered,
      delivery: step.delivery,
    }),
  );
};
