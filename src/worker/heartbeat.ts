/**
 * Heartbeats every activity while it runs, so a worker that dies mid-step
 * is noticed within the step's heartbeat timeout (seconds) rather than its
 * start-to-close timeout (minutes by default): Temporal then retries the
 * attempt on a live worker, and the delivery ledger keeps a retried
 * notification from going out twice. An activity's own work needs no
 * heartbeat calls: the beat says the process is alive and serving it, which
 * is all a retry needs to know. Activities scheduled without a heartbeat
 * timeout (runs started before it was set) are left alone.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** Beats this often within the heartbeat timeout; the SDK sends at most one per 80% of it. */
const BEATS_PER_TIMEOUT = 4;
const MIN_INTERVAL_MS = 250;

export const heartbeatWhileRunning: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const timeout = ctx.info.heartbeatTimeoutMs;
      if (!timeout) return next(input);
      // No beat at the start: a step shorter than a quarter of the timeout (most are) sends none at all.
      const beat = setInterval(() => ctx.heartbeat(), Math.max(MIN_INTERVAL_MS, Math.floor(timeout / BEATS_PER_TIMEOUT)));
      try {
        return await next(input);
      } finally {
        clearInterval(beat);
      }
    },
  },
});
