/**
 * Probes, open to all and never rate limited:
 * - `GET /livez`: the process serves requests (restart it when this fails);
 * - `GET /readyz`: Postgres and Temporal answer (send it traffic when this passes);
 * - `GET /api/health/workflows`: each dependency, workers included, reported on its own; 503 when any is down.
 */
import { Router } from 'express';
import { sql } from 'kysely';
import proto from '@temporalio/proto';
import type { Logger } from '../../logger';
import type { GatewayDeps } from '../context';

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

interface Check {
  status: 'up' | 'down';
  latencyMs: number;
  detail?: string;
}

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
  const router = Router();
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
  router.get('/livez', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'alive', time: new Date().toISOString() });
  });

  // Workers are not required: the gateway can accept runs while they are away, and they start once one polls.
  router.get('/readyz', async (_req, res) => {
    const [postgres, temporalCheck] = await Promise.all([checkPostgres(), checkTemporal()]);
    const checks = { postgres, temporal: temporalCheck };
    const ready = Object.values(checks).every((c) => c.status === 'up');
    readiness(ready, checks);
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'not_ready', checks, time: new Date().toISOString() });
  });

  router.get('/api/health/workflows', async (_req, res) => {
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
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'healthy' : 'unhealthy', checks, time: new Date().toISOString() });
  });
  return router;
}
