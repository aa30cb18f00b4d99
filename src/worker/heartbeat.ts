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

/** Beats this often within the heartbeat timeout. */
const BEATS_PER_TIMEOUT = 4;
const MIN_INTERVAL_MS = 250;

/**
 * How often an activity beats, and the longest the SDK may hold a beat back
 * (the worker's `maxHeartbeatThrottleInterval`): a quarter of the heartbeat
 * timeout. Left to itself, the SDK sends at most one beat per 80% of the
 * timeout, so Temporal hears of a live attempt only every 8 of 10 seconds;
 * a beat then 2 s late on a loaded machine times the attempt out, and the
 * next attempt takes over a send the live one may still be making. A quarter
 * leaves three beats' worth of margin.
 */
export function beatIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(MIN_INTERVAL_MS, Math.floor(heartbeatTimeoutMs / BEATS_PER_TIMEOUT));
}

export const heartbeatWhileRunning: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const timeout = ctx.info.heartbeatTimeoutMs;
      if (!timeout) return next(input);
      // No beat at the start: a step shorter than a quarter of the timeout (most are) sends none at all.
      const beat = setInterval(() => ctx.heartbeat(), beatIntervalMs(timeout));
      try {
        return await next(input);
      } finally {
        clearInterval(beat);
      }
    },
  },
});
