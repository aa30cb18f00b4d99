/** `GET /api/health/workflows`: each dependency reported on its own; 503 when any is down. */
import { Router } from 'express';
import { sql } from 'kysely';
import proto from '@temporalio/proto';
import type { GatewayDeps } from '../context';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

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

export function healthRoutes({ config, db, temporal: t }: GatewayDeps): Router {
  const router = Router();
  router.get('/api/health/workflows', async (_req, res) => {
    const [postgres, temporalCheck, worker] = await Promise.all([
      timed(async () => {
        await sql`select 1`.execute(db);
        return undefined;
      }),
      timed(async () => {
        await t.connection.workflowService.getSystemInfo({});
        return `${config.temporal.address} namespace ${config.temporal.namespace}`;
      }),
      timed(async () => {
        const res = await t.connection.workflowService.describeTaskQueue({
          namespace: config.temporal.namespace,
          taskQueue: { name: config.temporal.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
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
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'healthy' : 'unhealthy', checks, time: new Date().toISOString() });
  });
  return router;
}
