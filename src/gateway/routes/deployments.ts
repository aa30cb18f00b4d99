/**
 * `GET /api/deployments`: the worker deployment's builds, as
 * `npm run cli -- deploy status` shows them (src/temporal/deployments.ts), for
 * admins and the console. Moves between builds are made with the CLI, where
 * the release is.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { BUILD_STATES, DeploymentError, deploymentStatus } from '../../temporal/deployments';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations, time } from '../operations';
import { HttpProblem } from '../problem';

const buildSchema = z.object({
  buildId: z.string(),
  state: z.enum(BUILD_STATES),
  rampPercentage: z.number().nullable().meta({ description: 'the share of new runs it takes while ramping' }),
  openRuns: z.int().nullable().meta({ description: 'runs still open on it, by Temporal visibility; null when it could not count' }),
  canStop: z.boolean().meta({ description: 'neither current nor ramping, and no open run holds it: its workers can be stopped' }),
  createdAt: time.nullable(),
  currentSince: time.nullable(),
});

const deploymentSchema = named(
  'Deployment',
  z.object({
    name: z.string().nullable().meta({ description: "the worker deployment (WORKER_DEPLOYMENT_NAME); null when this gateway's configuration names none" }),
    current: z.string().nullable().meta({ description: 'the build new runs go to; null: unversioned workers' }),
    ramping: z.object({ buildId: z.string(), percentage: z.number() }).nullable(),
    builds: z.array(buildSchema).meta({ description: 'newest first' }),
  }),
);

export const deploymentOperations = {
  'GET /api/deployments': {
    tag: 'Deployments',
    summary: "The worker deployment's builds: current, ramping, open runs and drainage",
    description:
      'Worker Versioning (docs/DEPLOYMENT.md, "Deploying a new build"): which build takes new runs, which ramps, how many open runs each holds and which can be stopped. ' +
      'Without WORKER_DEPLOYMENT_NAME the answer names no deployment and lists no build.',
    access: 'admin',
    answers: { 200: { description: 'the deployment', schema: deploymentSchema } },
    problems: ['not_found', 'temporal_unavailable'],
  },
} satisfies Operations;

export function deploymentRoutes({ temporal, config }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(deploymentOperations);

  serve('GET /api/deployments', async (_req, res) => {
    const name = config.deployment.name;
    if (name === undefined) {
      const answer: Built<typeof deploymentSchema> = { name: null, current: null, ramping: null, builds: [] };
      res.json(answer);
      return;
    }
    try {
      const answer: Built<typeof deploymentSchema> = await deploymentStatus(temporal.client, name);
      res.json(answer);
    } catch (err) {
      if (err instanceof DeploymentError) throw new HttpProblem('not_found', err.message);
      throw err;
    }
  });

  return router;
}
