/**
 * The delivery ledger: the guard against sending twice. None of the providers
 * (SMTP, Twilio, Slack, Teams) takes an idempotency key, so before calling one
 * an activity records its intent under a key made of the workflow id and the
 * step's path (not the run id, which changes when a run is reset), and after
 * the call the outcome. A retried attempt, or the same step after a reset,
 * finds the row and does not deliver again.
 *
 * A row left SENDING by a worker that died is taken over at once by the next
 * attempt of the same activity (`claimed_by`); one claimed by anything else
 * holds for {@link SENDING_LEASE_MS}. An attempt Temporal gave up on that was
 * still running (a frozen worker) may end its own send after the next one
 * sent: its failure never turns the row back from SENT.
 *
 * Postgres out of reach before the send (the claim) is `DatabaseUnavailable`:
 * nothing was sent, and the run waits for Postgres. Postgres out of reach
 * after the provider accepted the message does not fail the attempt, which
 * would send again: the activity completes with the result and the ledger
 * write it owes ({@link UnrecordedDelivery}), and the run, which Temporal
 * keeps, makes that write (`recordDelivery`) before it goes on. Runs started
 * before that (no `DatabaseUnavailable` in their retry policy) get the older
 * behaviour: the write retried for a few seconds, then the attempt fails.
 * The worker that sent it keeps trying that write in the background as well,
 * for when the run never hears of it: Temporal on the same Postgres, away
 * too, so the attempt's completion was lost and the attempt times out.
 *
 * What it cannot close: the process dying after the provider accepted the
 * message and before the ledger says SENT or the activity reported (or, with
 * Temporal's persistence gone too, before Postgres came back). The next
 * attempt then finds the row still SENDING (or UNKNOWN, when the call ended
 * ambiguously) and the step's delivery policy decides: `at-least-once` sends
 * again (a possible duplicate), `at-most-once` fails the step (a possible
 * loss), explicitly.
 */
import type { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { Database, DeliveryRow } from '../db/schema';
import { isDatabaseUnavailable } from '../db/client';
import { type DeliveryOutcome, getDelivery, insertSending, reclaimDelivery, settleDelivery } from '../db/deliveries';
import { DELIVERY_POLICIES } from '../src/shared/definition';
import { ERROR_TYPES, type UnrecordedDelivery } from '../src/shared/run';
import type { ConnectionUsed } from './connections';
import { currentActivity } from './context';
import { needsDatabase, permanent, transient } from './failures';

export { DELIVERY_POLICIES };
export type DeliveryPolicy = (typeof DELIVERY_POLICIES)[number];

/** How long a SENDING row belongs to the attempt that wrote it. @default 60 s */
export const SENDING_LEASE_MS = 60_000;

/**
 * A failed send. `ambiguous` means the provider may have accepted the message
 * (the connection broke after the request went out), so the outcome is unknown.
 */
export class SendFailure extends Error {
  constructor(
    readonly failure: ApplicationFailure,
    readonly ambiguous: boolean,
  ) {
    super(failure.message);
    this.name = 'SendFailure';
  }
}

export interface Delivery<T> {
  key: string;
  channel: string;
  recipient?: string | undefined;
  /** The connection the send goes through, by name and the version opened; undefined for the environment's settings. */
  connection?: ConnectionUsed | undefined;
  policy: DeliveryPolicy;
  send(): Promise<{ result: T; providerMessageId?: string | undefined }>;
}

export type Delivered<T> = T & { deduplicated?: true };

/**
 * Whether the run of the activity now running settles a delivery the ledger
 * could not record: runs that wait for Postgres say so by listing
 * `DatabaseUnavailable` as not retryable.
 */
function runRecordsDeliveries(): boolean {
  return currentActivity()?.info.retryPolicy?.nonRetryableErrorTypes?.includes(ERROR_TYPES.DatabaseUnavailable) ?? false;
}

/** The activity attempt running now (`<workflow id>/<run id>/<activity id>#<attempt>`), or null outside an activity. */
function currentAttempt(): string | null {
  const info = currentActivity()?.info;
  const run = info?.workflowExecution;
  return info && run ? `${run.workflowId}/${run.runId}/${info.activityId}#${info.attempt}` : null;
}

/**
 * Throws the running attempt's cancellation once Temporal has given it up
 * (timed out, its run cancelled) and the worker has heard so at a heartbeat:
 * such an attempt begins no send, which the next attempt may be making.
 */
function stopIfGivenUp(): void {
  currentActivity()?.cancellationSignal.throwIfAborted();
}

/**
 * Whether a row's claim was made by an earlier attempt of the activity now
 * running: that attempt is over (Temporal starts the next only once it failed
 * or timed out, and the worker heartbeats while one runs, so a timeout means
 * its worker died or froze), so the row need not wait out its lease.
 */
export function claimedByEarlierAttempt(claimedBy: string | null, now: string | null): boolean {
  if (!claimedBy || !now) return false;
  const [heldBy, heldAttempt] = claimedBy.split('#');
  const [running, runningAttempt] = now.split('#');
  return heldBy === running && Number(heldAttempt) < Number(runningAttempt);
}

/** The workflow id and step path a delivery key is made of (`<workflow id>/<step path>`). */
export function splitDeliveryKey(key: string): { workflowId: string; stepPath: string } {
  const split = key.indexOf('/');
  return split > 0 ? { workflowId: key.slice(0, split), stepPath: key.slice(split + 1) } : { workflowId: key, stepPath: '' };
}

/**
 * Attempts at recording a message sent, and the wait before the second
 * (doubling after): about 6 s in all; about 0.6 s where the run records it
 * later instead ({@link UnrecordedDelivery}).
 */
export const SENT_WRITE_ATTEMPTS = 5;
const SENT_WRITE_ATTEMPTS_BEFORE_HANDOVER = 3;
const SENT_WRITE_FIRST_DELAY_MS = 200;

async function settleSent(write: () => Promise<void>, attempts: number): Promise<void> {
  let delay = SENT_WRITE_FIRST_DELAY_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await write();
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
}

/**
 * How long a worker keeps trying, in the background, a SENT write it handed
 * to the run ({@link UnrecordedDelivery}), and the waits between tries
 * (doubling). The run makes the write as well; this one is for when the run
 * never hears of it: with Temporal's persistence on the same Postgres, the
 * attempt's completion can be lost in the same outage (the SDK gives up
 * reporting it after its retries), the attempt times out, and the next one
 * must find the message SENT rather than send it again.
 */
export const OWED_WRITE_LIMIT_MS = 60 * 60_000;
const OWED_WRITE_FIRST_DELAY_MS = 500;
const OWED_WRITE_MAX_DELAY_MS = 2_000;

export function createLedger(db: Kysely<Database>) {
  async function claim(d: Delivery<unknown>, attempt: string | null): Promise<{ fresh: true } | { fresh: false; row: DeliveryRow }> {
    const { workflowId, stepPath } = splitDeliveryKey(d.key);
    const fresh = await insertSending(db, {
      key: d.key,
      channel: d.channel,
      workflowId,
      stepPath,
      recipient: d.recipient ?? null,
      claimedBy: attempt,
      connection: d.connection?.name ?? null,
      connectionVersion: d.connection?.version ?? null,
    });
    if (fresh) return { fresh: true };
    return { fresh: false, row: await getDelivery(db, d.key) };
  }

  /**
   * Writes SENT for `key` until Postgres takes it, in the background (see
   * {@link OWED_WRITE_LIMIT_MS}). A row already SENT is left as it is.
   */
  function keepWritingSent(key: string, fields: { providerMessageId?: string | undefined; result?: unknown }): void {
    const until = Date.now() + OWED_WRITE_LIMIT_MS;
    let delay = OWED_WRITE_FIRST_DELAY_MS;
    const tryOnce = () => {
      settleDelivery(db, key, 'SENT', fields, { unlessSent: true }).catch((err: unknown) => {
          if (!isDatabaseUnavailable(err) || Date.now() + delay > until) return;
          setTimeout(tryOnce, delay).unref();
          delay = Math.min(delay * 2, OWED_WRITE_MAX_DELAY_MS);
        });
    };
    setTimeout(tryOnce, delay).unref();
  }

  // A retried send may open a newer version of its connection (updated while the step waited): the row names the one it goes through.
  const reclaim = (d: Delivery<unknown>, from: string, attempt: string | null) =>
    reclaimDelivery(db, d.key, from, { claimedBy: attempt, connection: d.connection?.name ?? null, connectionVersion: d.connection?.version ?? null });
  const settle = (key: string, status: 'SENT' | 'FAILED' | 'UNKNOWN', outcome: DeliveryOutcome) => settleDelivery(db, key, status, outcome);

  return {
    /** Sends unless the ledger shows the delivery already happened; see the module comment. */
    async deliver<T>(d: Delivery<T>): Promise<Delivered<T> | (T & UnrecordedDelivery)> {
      stopIfGivenUp();
      const attempt = currentAttempt();
      const claimed = await needsDatabase(`claiming the ${d.channel} delivery before it is sent`, () => claim(d, attempt));
      if (!claimed.fresh) {
        const { row } = claimed;
        if (row.status === 'SENT') return { ...(row.result as T), deduplicated: true };
        const stale =
          row.status === 'UNKNOWN' ||
          claimedByEarlierAttempt(row.claimed_by, attempt) ||
          Date.now() - new Date(row.updated_at).getTime() > SENDING_LEASE_MS;
        if (row.status === 'SENDING' && !stale) {
          throw transient('DeliveryInProgress', `another attempt is delivering ${d.channel} ${d.key}; retrying after it settles`);
        }
        if (row.status !== 'FAILED' && d.policy === 'at-most-once') {
          throw permanent(
            'DeliveryOutcomeUnknown',
            `an earlier attempt may have delivered this ${d.channel} message (${row.status.toLowerCase()}); ` +
              'the step is at-most-once, so it is not sent again',
          );
        }
        if (!(await needsDatabase(`claiming the ${d.channel} delivery before it is sent`, () => reclaim(d, row.status, attempt)))) {
          throw transient('DeliveryInProgress', `another attempt claimed ${d.channel} ${d.key}`);
        }
      }
      // Given up while it claimed the row: the row stays SENDING, claimed by this attempt, and the next attempt takes it over.
      stopIfGivenUp();
      let sent: Awaited<ReturnType<Delivery<T>['send']>>;
      try {
        sent = await d.send();
      } catch (err) {
        // The provider's answer is what the step reports. A row Postgres could not settle stays
        // SENDING, claimed by this attempt: the next attempt of this activity takes it over.
        const failure = err instanceof SendFailure ? err.failure : err;
        await settle(d.key, err instanceof SendFailure && !err.ambiguous ? 'FAILED' : 'UNKNOWN', {
          error: err instanceof SendFailure ? err.message : String(err),
        }).catch((settleErr: unknown) => {
          if (!isDatabaseUnavailable(settleErr)) throw settleErr;
        });
        throw failure;
      }
      // The message is out: failing the attempt now would make the step's retry send it again.
      const recordsLater = runRecordsDeliveries();
      const sentFields = { providerMessageId: sent.providerMessageId, result: sent.result };
      try {
        await settleSent(() => settle(d.key, 'SENT', sentFields), recordsLater ? SENT_WRITE_ATTEMPTS_BEFORE_HANDOVER : SENT_WRITE_ATTEMPTS);
      } catch (err) {
        if (!recordsLater || !isDatabaseUnavailable(err)) throw err;
        // Postgres is away: the run, which Temporal keeps, records the delivery before it goes on.
        // This process keeps trying too: when Temporal's persistence went with Postgres, the
        // attempt's completion, which carries the write to the run, may never reach it.
        keepWritingSent(d.key, sentFields);
        return { ...sent.result, unrecordedDelivery: { deliveryKey: d.key, ...sentFields } };
      }
      return sent.result as Delivered<T>;
    },

    /** Records a delivery whose SENT write the sending attempt could not make (see {@link UnrecordedDelivery}). */
    async recordSent(unrecorded: UnrecordedDelivery['unrecordedDelivery']): Promise<void> {
      await needsDatabase(`recording the delivery ${unrecorded.deliveryKey} as sent`, () =>
        settle(unrecorded.deliveryKey, 'SENT', { providerMessageId: unrecorded.providerMessageId, result: unrecorded.result }),
      );
    },
  };
}

export type Ledger = ReturnType<typeof createLedger>;
