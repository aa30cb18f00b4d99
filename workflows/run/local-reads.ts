/**
 * Reads tried as local activities (runs with `settings.localReads`). An
 * `http` step that only reads (GET or HEAD, safe and idempotent by HTTP's own
 * definition) first runs in the worker that holds the run's workflow task, as
 * a local activity: no activity task goes through Temporal's matching, the
 * history gains one marker instead of three events and a workflow task, and
 * the run's next steps go on in the same workflow task. At 100 runs in flight
 * that is most of what Temporal does for such a step
 * (docs/BENCHMARKS.md#gateway-load).
 *
 * What a local activity gives up, and why a read can afford it:
 * - Its result is recorded when the workflow task ends, not when it returns,
 *   so a worker that dies in between sends the request again. A read sent
 *   twice changes nothing.
 * - It holds the run's workflow-task slot while it waits. So an attempt is
 *   bounded ({@link LOCAL_READ_BOUND_MS}), and the first that fails or
 *   overruns is the run's last: from then on its reads are ordinary
 *   activities. A slow or failing peer costs each run at most one bounded
 *   wait, not a slot per step.
 * - Temporal keeps no attempt count or pending state for it. A failed attempt
 *   is not the step's failure: the step runs again as an ordinary activity,
 *   whose timeout and retry policy decide it, retried and shown in the Web UI
 *   as any other step.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { RunSettings } from '../../src/shared/run';
import type { Activities } from './activity-options';

/**
 * The longest a read waits as a local activity before the step goes to an
 * ordinary one: most reads of an API answer well within it, and it is the
 * most a slow peer holds one of the worker's workflow-task slots per run.
 */
export const LOCAL_READ_BOUND_MS = 1_000;

/** The request's own deadline inside that bound, so the activity ends it itself. */
const LOCAL_READ_REQUEST_MS = LOCAL_READ_BOUND_MS - 100;

/**
 * The largest answer a local read keeps; a larger one is read again by the
 * ordinary activity (up to its 1 MiB). A workflow task sends its local
 * activities' results to Temporal together, in one call whose size Temporal
 * limits (4 MiB by default), where ordinary activities' results go one by one.
 */
export const LOCAL_READ_MAX_BYTES = 16_384;

/**
 * Local reads a run sends at most; its later reads are ordinary activities.
 * With {@link LOCAL_READ_MAX_BYTES}, a run's local results stay far within
 * that one call however many it sends at once (a `parallel`, a `foreach`).
 */
export const LOCAL_READS_PER_RUN = 50;

/** The methods a step may send as a local activity. */
export function isRead(method: string | undefined): boolean {
  return method === undefined || method === 'GET' || method === 'HEAD';
}

/** One run's local reads: on while none has failed, off for good after the first that does, and after {@link LOCAL_READS_PER_RUN}. */
export class LocalReads {
  private on: boolean;
  private sent = 0;

  constructor(settings: RunSettings | undefined) {
    this.on = settings?.localReads === true;
  }

  /**
   * The activities to try a read with first, with the step's summary, or
   * undefined once this run reads by ordinary activities.
   */
  activities(options: ActivityOptions): Activities | undefined {
    if (!this.on || this.sent >= LOCAL_READS_PER_RUN) return undefined;
    this.sent += 1;
    const own = typeof options.startToCloseTimeout === 'number' ? options.startToCloseTimeout : LOCAL_READ_BOUND_MS;
    const bound = Math.min(own, LOCAL_READ_BOUND_MS);
    return wf.proxyLocalActivities<Activities>({
      // From scheduling, so a read waiting for one of the worker's local-activity slots counts too.
      scheduleToCloseTimeout: bound,
      startToCloseTimeout: bound,
      retry: { maximumAttempts: 1 },
      ...(options.summary ? { summary: options.summary } : {}),
    });
  }

  /** The request deadline for a local attempt: the step's own, within the bound. */
  requestMs(stepRequestMs: number | undefined): number {
    return Math.min(stepRequestMs ?? LOCAL_READ_REQUEST_MS, LOCAL_READ_REQUEST_MS);
  }

  /** A local read failed or overran: this run's reads are ordinary activities from now on. */
  fellBack(): void {
    this.on = false;
  }
}
