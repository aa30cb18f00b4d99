/**
 * Probes, open to all and never rate limited:
 * - `GET /livez`: the process serves requests (restart it when this fails);
 * - `GET /readyz`: Postgres and Temporal answer (send it traffic when this passes);
 * - `GET /api/health/workflows`: each dependency, workers included, reported on its own; 503 when any is down.
 */
import type { Router } from 'express';
import { sql } from 'kysely';
import proto from '@temporalio/proto';
import { z } from 'zod';
import type { Logger } from '../../logger';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations, time } from '../operations';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

/**
 * The probes' paths: the request log writes their answers at `debug`, as they come every few seconds.
 * The routes below spell them out, as the route-coverage tests read routes from the source.
 */
export const PROBE_PATHS: readonly string[] = ['/livez', '/readyz', '/api/health/workflows'];

/** A worker's long poll lasts up to a minute; a poller seen within this window is alive. */
const POLLER_FRESH_MS = 90_000;
const CHECK_TIMEOUT_MS = 3_000;

const checkSchema = z.object({
  status: z.enum(['up', 'down']),
  latencyMs: z.number(),
  detail: z.string().optional(),
});
type Check = z.infer<typeof checkSchema>;

const livenessSchema = named('Liveness', z.object({ status: z.literal('alive'), time }));
const readinessSchema = named(
  'Readiness',
  z.object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ postgres: checkSchema, temporal: checkSchema }),
    time,
  }),
);
const healthSchema = named(
  'Health',
  z.object({
    status: z.enum(['healthy', 'unhealthy']),
    checks: z.object({ postgres: checkSchema, temporal: checkSchema, worker: checkSchema }),
    time,
  }),
);

export const healthOperations = {
  'GET /livez': {
    tag: 'Probes',
    summary: 'Liveness: the process serves requests',
    access: 'open',
    answers: { 200: { description: 'alive', schema: livenessSchema } },
  },
  'GET /readyz': {
    tag: 'Probes',
    summary: 'Readiness: Postgres and Temporal answer',
    description: 'Workers are not required. Not rate limited.',
    access: 'open',
    answers: {
      200: { description: 'ready', schema: readinessSchema },
      503: { description: 'Postgres or Temporal is down (same shape)', schema: readinessSchema },
    },
  },
  'GET /api/health/workflows': {
    tag: 'Probes',
    summary: 'Health of Postgres, Temporal and the worker',
    description: `Each dependency is checked in parallel within ${CHECK_TIMEOUT_MS / 1000} s; the worker is up when a poller was seen on the workflow task queue within ${POLLER_FRESH_MS / 1000} s.`,
    access: 'open',
    answers: {
      200: { description: 'all three are up', schema: healthSchema },
      503: { description: 'one or more is down (same shape)', schema: healthSchema },
    },
  },
} satisfies Operations;

async function timed(fn: () => Promise<string | undefined>): Promise<Check> {
  const start = performance.now();
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref()),
    ]);
    return { status: 'up', latencyMs: Math.round(performance.now() - start), ...(detail ? { detail } : {}) };
  } catch (err) {
    return { status: 'down', latencyMs: Math.round(performance.now() - start), detail: (err as Error).message };
  }
}

/**
 * Logs a probe's answer when it changes, not on every call: a warning naming
 * what is down when the probe starts failing (its first answer included), a
 * line when it passes again.
 */
export function probeChanges(logger: Logger, probe: string): (passing: boolean, checks: Record<string, Check>) => void {
  let last: boolean | undefined;
  return (passing, checks) => {
    const changed = last === undefined ? !passing : passing !== last;
    last = passing;
    if (!changed) return;
    if (passing) {
      logger.info({ probe, checks }, `${probe} passes again`);
      return;
    }
    const down = Object.entries(checks)
      .filter(([, check]) => check.status === 'down')
      .map(([name, check]) => `${name}: ${check.detail ?? 'down'}`);
    logger.warn({ probe, checks }, `${probe} fails: ${down.join('; ')}`);
  };
}

export function healthRoutes({ config, db, temporal: t, logger }: GatewayDeps): Router {
  const { router, serve } = declaredRouter(healthOperations);
  const readiness = probeChanges(logger, '/readyz');
  const health = probeChanges(logger, '/api/health/workflows');
  const checkPostgres = () =>
    timed(async () => {
      await sql`select 1`.execute(db);
      return undefined;
    });
  const checkTemporal = () =>
    timed(async () => {
      // A deadline on the call itself, so no gRPC call outlives the check.
      await t.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => t.connection.workflowService.getSystemInfo({}));
      return `${config.temporal.address} namespace ${config.temporal.namespace}`;
    });

  // Nothing but the event loop: a process that answers this is alive, whatever its dependencies do.
  serve('GET /livez', (_req, res) => {
    const answer: Built<typeof livenessSchema> = { status: 'alive', time: new Date().toISOString() };
    res.set('Cache-Control', 'no-store').json(answer);
  });

  // Workers are not required: the gateway can accept runs while they are away, and they start once one polls.
  serve('GET /readyz', async (_req, res) => {
    const [postgres, temporalCheck] = await Promise.all([checkPostgres(), checkTemporal()]);
    const checks = { postgres, temporal: temporalCheck };
    const ready = Object.values(checks).every((c) => c.status === 'up');
    readiness(ready, checks);
    const answer: Built<typeof readinessSchema> = { status: ready ? 'ready' : 'not_ready', checks, time: new Date().toISOString() };
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(answer);
  });

  serve('GET /api/health/workflows', async (_req, res) => {
    const [postgres, temporalCheck, worker] = await Promise.all([
      checkPostgres(),
      checkTemporal(),
      timed(async () => {
        const res = await t.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
          t.connection.workflowService.describeTaskQueue({
            namespace: config.temporal.namespace,
            taskQueue: { name: config.temporal.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
            taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
          }),
        );
        const now = Date.now();
        const fresh = (res.pollers ?? []).filter((p) => {
          const seconds = Number(p.lastAccessTime?.seconds ?? 0);
          return now - seconds * 1000 < POLLER_FRESH_MS;
        });
        if (fresh.length === 0) throw new Error(`no worker is polling task queue "${config.temporal.taskQueue}"`);
        return `${fresh.length} poller(s) on task queue "${config.temporal.taskQueue}"`;
      }),
    ]);
    const checks = { postgres, temporal: temporalCheck, worker };
    const healthy = Object.values(checks).every((c) => c.status === 'up');
    health(healthy, checks);
    const answer: Built<typeof healthSchema> = { status: healthy ? 'healthy' : 'unhealthy', checks, time: new Date().toISOString() };
    res.status(healthy ? 200 : 503).json(answer);
  });
  return router;
}
