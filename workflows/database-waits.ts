/**
 * A step waits out an outage of the product's own Postgres instead of failing.
 *
 * A step's activity that cannot reach Postgres before it calls the provider
 * (the delivery ledger's claim, a pacing slot, a called definition) fails with
 * `DatabaseUnavailable`. In runs started with `databaseWaitLimitSeconds`, the
 * activity's retry policy lists that type as not retryable, so the failure
 * comes here at once, spending none of the step's retries; the step then
 * sleeps on a durable timer and calls the activity again, for as long as the
 * limit allows. An activity that sent its message while Postgres was away
 * answers the ledger write it owes, which is made here before the step ends.
 *
 * Runs started before this have no limit in their settings and call their
 * activities exactly as before, so their histories replay unchanged.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { ERROR_TYPES, hasUnrecordedDelivery, type UnrecordedDelivery } from '../src/shared/run';

type Activities = ReturnType<typeof createActivities>;

/** The first pause before calling again; pauses double up to {@link LONGEST_PAUSE_MS}. */
const FIRST_PAUSE_MS = 1_000;
const LONGEST_PAUSE_MS = 30_000;
/** Past this much waiting the outage is no failover: call again every {@link LONG_OUTAGE_PAUSE_MS}, to keep the history short. */
const LONG_OUTAGE_MS = 10 * 60_000;
const LONG_OUTAGE_PAUSE_MS = 5 * 60_000;

/** How long to pause after `waitedMs` of waiting and `round` calls that met the outage. */
export function pauseAfter(round: number, waitedMs: number): number {
  if (waitedMs >= LONG_OUTAGE_MS) return LONG_OUTAGE_PAUSE_MS;
  return Math.min(FIRST_PAUSE_MS * 2 ** round, LONGEST_PAUSE_MS);
}

/**
 * The activities under `options`, each call of which waits out outages of
 * Postgres for up to `limitSeconds` in all; `undefined` for runs started
 * before waiting was possible.
 */
export function activitiesWaitingForDatabase(options: ActivityOptions, limitSeconds: number | undefined): Activities {
  if (limitSeconds === undefined) return wf.proxyActivities<Activities>(options);
  const waiting = withDatabaseUnavailableNotRetried(options);
  const activities = wf.proxyActivities<Activities>(waiting);
  return new Proxy(activities, {
    get(target, name) {
      const activity = target[name as keyof Activities] as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => waitForDatabase(() => activity(...args), waiting, limitSeconds * 1000);
    },
  });
}

function withDatabaseUnavailableNotRetried(options: ActivityOptions): ActivityOptions {
  const notRetried = options.retry?.nonRetryableErrorTypes ?? [];
  return {
    ...options,
    retry: { ...options.retry, nonRetryableErrorTypes: [...notRetried, ERROR_TYPES.DatabaseUnavailable] },
  };
}

async function waitForDatabase(call: () => Promise<unknown>, options: ActivityOptions, limitMs: number): Promise<unknown> {
  let waitingSince: number | undefined;
  for (let round = 0; ; round++) {
    let result: unknown;
    try {
      result = await call();
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      waitingSince ??= Date.now();
      const waitedMs = Date.now() - waitingSince;
      if (waitedMs >= limitMs) {
        throw wf.ApplicationFailure.create({
          type: ERROR_TYPES.DatabaseUnavailable,
          message: `Postgres was unreachable for ${Math.round(waitedMs / 1000)} s, past the run's limit of ${Math.round(limitMs / 1000)} s (WORKFLOW_DATABASE_WAIT_LIMIT); reset the run to this step once Postgres is back`,
          nonRetryable: true,
          cause: err instanceof wf.TemporalFailure ? err : undefined,
        });
      }
      await wf.sleep(pauseAfter(round, waitedMs), { summary: `${options.summary ?? 'step'}: waiting for Postgres` });
      continue;
    }
    if (!hasUnrecordedDelivery(result)) return result;
    await recordDelivery(result, options, limitMs);
    const { unrecordedDelivery: _written, ...output } = result;
    return output;
  }
}

/** Makes the ledger write a send could not: before the step ends, so no retry or reset of it sends again. */
function recordDelivery({ unrecordedDelivery }: UnrecordedDelivery, options: ActivityOptions, limitMs: number): Promise<unknown> {
  const recording = withDatabaseUnavailableNotRetried({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
    summary: `${options.summary ?? 'step'}: record the delivery as sent`,
  });
  return waitForDatabase(() => wf.proxyActivities<Activities>(recording).recordDelivery(unrecordedDelivery), recording, limitMs);
}

function isDatabaseUnavailable(err: unknown): boolean {
  return err instanceof wf.ActivityFailure && err.cause instanceof wf.ApplicationFailure && err.cause.type === ERROR_TYPES.DatabaseUnavailable;
}
