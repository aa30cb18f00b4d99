/**
 * Channel pacing: at most PACING_<CHANNEL>_PER_MINUTE sends per channel,
 * across every run and worker, evenly spaced. A step whose connection sets
 * its own `perMinute` takes slots of that connection's budget instead (a
 * provider limits each account or number apart); other steps, with a
 * connection or not, take their channel's. Each delivery takes the next
 * free slot of its budget from Postgres (one atomic upsert) and keeps it
 * under its delivery key. A send whose slot lies ahead does not wait in the
 * activity: it answers {@link PacedSend}, the workflow sleeps on a durable
 * timer until the slot and calls again, and the second call finds its slot
 * reserved and due.
 *
 * A connection's quiet hours come before its slot: a send through it inside
 * the window answers "not yet" until the window ends, reserving nothing, and
 * takes its slot when it asks again. Decided here rather than in the
 * workflow, so a run learns of a connection's window from the activity's
 * answer, recorded in its history, and runs through connections without
 * one issue the same commands as before.
 */
import type { Kysely } from 'kysely';
import type { ChannelType } from '../channels';
import { pruneReservations, reserveSlot } from '../db/pacing';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import { quietHoursEnd } from '../src/shared/quiet-hours';
import type { PacedSend } from '../src/shared/run';
import type { ConnectionPacing } from './connections';
import { needsDatabase } from './failures';

/** A slot this close (or already past) counts as due: not worth a timer. */
const DUE_WITHIN_MS = 25;

/** Reservations older than this are pruned now and then; a retry after that takes a fresh slot. */
const KEEP_RESERVATIONS = '7 days';

/** A slot ahead, and the budget it is of as a run's wait names it: `sms`, or `sms via twilio-eu` for a connection's own. */
export interface Slot {
  notBefore: Date;
  budget: string;
  /** Why the send waits, when it is not its slot: the connection's quiet hours. */
  reason?: string;
}

export interface Pacer {
  /** When this delivery may go out, or undefined when its budget is not limited or the slot is due. */
  slotFor(channel: ChannelType, deliveryKey: string, connection?: string): Promise<Slot | undefined>;
}

/** A connection's own pacing (activities/connections.ts): its sends a minute, undefined when it shares its channel's, and its quiet hours. */
export type ConnectionPacingOf = (channel: ChannelType, connection: string) => Promise<ConnectionPacing>;

/** The row of `channel_pacing` a connection's own budget is kept in; channels' rows are named by the channel alone. */
export function connectionBudget(connection: string): string {
  return `connection:${connection}`;
}

export function createPacer(config: Config, db: Kysely<Database>, connectionPacing: ConnectionPacingOf): Pacer {
  let calls = 0;
  return {
    async slotFor(channel, deliveryKey, connection) {
      const pacing = connection === undefined ? undefined : await connectionPacing(channel, connection);
      const quiet = pacing?.quietHours;
      if (quiet) {
        const end = quietHoursEnd(Date.now(), quiet);
        if (end !== undefined && end - Date.now() > DUE_WITHIN_MS) {
          return { notBefore: new Date(end), budget: `${channel} via ${connection}`, reason: `quiet hours of ${connection} (${quiet.start}–${quiet.end} ${quiet.timeZone})` };
        }
      }
      const own = pacing?.perMinute;
      const perMinute = own ?? config.pacing[channel];
      if (!perMinute) return undefined;
      const spacingSeconds = 60 / perMinute;
      if (++calls % 500 === 0) await pruneReservations(db, KEEP_RESERVATIONS);
      const budget = own === undefined ? channel : connectionBudget(connection!);
      const reserved = await reserveSlot(db, budget, deliveryKey, spacingSeconds);
      if (reserved.ahead_ms <= DUE_WITHIN_MS) return undefined;
      return { notBefore: reserved.slot, budget: own === undefined ? channel : `${channel} via ${connection}` };
    },
  };
}

type Send<I, R> = (input: I) => Promise<R>;

/**
 * Wraps a channel's send activity so it answers {@link PacedSend} while its
 * delivery's slot lies ahead. Input without a delivery key goes straight
 * through, to be refused by the activity's own validation.
 */
export function paced<I, R>(pacer: Pacer, channel: ChannelType, send: Send<I, R>): Send<I, R | PacedSend> {
  return async (input) => {
    const { deliveryKey: key, connection } = (input ?? {}) as { deliveryKey?: unknown; connection?: unknown };
    if (typeof key === 'string' && key !== '') {
      const through = typeof connection === 'string' ? connection : undefined;
      const slot = await needsDatabase(`taking a ${channel} pacing slot`, () => pacer.slotFor(channel, key, through));
      // `channel` names the budget in the run's wait: `sms pacing`, or `sms via twilio-eu pacing`.
      if (slot) return { paced: true, channel: slot.budget, notBefore: slot.notBefore.toISOString(), ...(slot.reason ? { reason: slot.reason } : {}) };
    }
    return send(input);
  };
}
