/**
 * The worker's side of a run's final mirror write (workflows/run/journal.ts,
 * `flush`). The SDK calls a sink once the workflow code of an activation has
 * run, and sends the activation's completion (here: the run's end) to
 * Temporal only after the sink's promise settles; never while replaying. So
 * the row is final before Temporal closes the run, as with the local activity
 * the write used to be, and a worker that dies before the write leaves the
 * workflow task to be retried, the write with it. The write is idempotent
 * (events and decisions insert once; a terminal status is not overwritten).
 *
 * Progress writes (a run's events before an activity, in runs started with
 * `mirrorProgress: 'sink'`) go the same way, tried once: the run keeps the
 * events until its next durable write (a local activity before a wait, or
 * the final write), which sends them again.
 */
import { type InjectedSinks, Runtime } from '@temporalio/worker';
import { isDatabaseUnavailable } from '../../db/client';
import type { MirrorSinks, MirrorUpdate } from '../shared/run';

export interface RetryOptions {
  /** Attempts in all. @default 3 (the local activity's) */
  attempts: number;
  /** Wait before the second attempt, doubling after. @default 200 */
  initialDelayMs: number;
  /** Longest one attempt may take before the next starts: the run's completion waits for these. @default 5000 */
  attemptTimeoutMs: number;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 3, initialDelayMs: 200, attemptTimeoutMs: 5_000 };

/**
 * A progress write is tried once, for at most 2 s (the workflow task's
 * completion waits for it): the run keeps its events and sends them again
 * with its next durable write, so nothing is lost when it fails.
 */
const PROGRESS_ATTEMPT: RetryOptions = { attempts: 1, initialDelayMs: 0, attemptTimeoutMs: 2_000 };

/**
 * Calls `write` until it succeeds, at most `attempts` times, each attempt given
 * `attemptTimeoutMs` (one left behind may still land: the write is idempotent).
 * Rejects with the last attempt's error.
 */
export async function withRetries(write: () => Promise<void>, options: RetryOptions = DEFAULT_RETRY): Promise<void> {
  let delay = options.initialDelayMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await withTimeout(write(), options.attemptTimeoutMs);
      return;
    } catch (err) {
      if (attempt >= options.attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
}

async function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the mirror write took longer than ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The sinks a worker registers: the final write and progress writes go through `record` (the
 * worker's `recordRunEvents` activity function, so a worker that swaps the
 * activity swaps this too). A write that fails every attempt is logged with
 * the execution and the error, never the update, which carries step outputs;
 * the reconciler settles the row's status from Temporal.
 */
export function mirrorSinks(record: (update: MirrorUpdate) => Promise<void>, retry: RetryOptions = DEFAULT_RETRY): InjectedSinks<MirrorSinks> {
  return {
    mirror: {
      recordFinal: {
        fn: async (info, finalUpdate) => {
          // Workflow time stands still through a workflow task; the run ended now, when its last task did.
          const update = { ...finalUpdate, finishedAt: new Date().toISOString() };
          try {
            await withRetries(() => record(update), retry);
          } catch (err) {
            // While Postgres is out of reach (logged once by the pool) every closing run lands here.
            const log = Runtime.instance().logger;
            (isDatabaseUnavailable(err) ? log.debug.bind(log) : log.warn.bind(log))('the final mirror write failed; the reconciler will settle the row', {
              executionId: update.executionId,
              workflowId: info.workflowId,
              runId: info.runId,
              error: err instanceof Error ? err.message : String(err),
            });
          }
        },
        callDuringReplay: false,
      },
      recordProgress: {
        fn: async (info, update) => {
          try {
            await withRetries(() => record(update), PROGRESS_ATTEMPT);
          } catch (err) {
            Runtime.instance().logger.debug('a progress write to the mirror failed; the run sends its events again with its next write', {
              executionId: update.executionId,
              workflowId: info.workflowId,
              error: err instanceof Error ? err.message : String(err),
            });
          }
        },
        callDuringReplay: false,
      },
    },
  };
}
