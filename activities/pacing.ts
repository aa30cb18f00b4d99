/**
 * Channel pacing: at most PACING_<CHANNEL>_PER_MINUTE sends per channel,
 * across every run and worker, evenly spaced. Each delivery takes the next
 * free slot of its channel from Postgres (one atomic upsert) and keeps it
 * under its delivery key. A send whose slot lies ahead does not wait in the
 * activity: it answers {@link PacedSend}, the workflow sleeps on a durable
 * timer until the slot and calls again, and the second call finds its slot
 * reserved and due.
 */
import type { Kysely } from 'kysely';
import type { ChannelType } from '../channels';
import { pruneReservations, reserveSlot } from '../db/pacing';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import type { PacedSend } from '../src/shared/run';
import { needsDatabase } from './failures';

/** A slot this close (or already past) counts as due: not worth a timer. */
const DUE_WITHIN_MS = 25;

/** Reservations older than this are pruned now and then; a retry after that takes a fresh slot. */
const KEEP_RESERVATIONS = '7 days';

export interface Pacer {
  /** When this delivery may go out, or undefined when its channel is not paced (or not limited) or the slot is due. */
  slotFor(channel: ChannelType, deliveryKey: string): Promise<Date | undefined>;
}

export function createPacer(config: Config, db: Kysely<Database>): Pacer {
  let calls = 0;
  return {
    async slotFor(channel, deliveryKey) {
      const perMinute = config.pacing[channel];
      if (!perMinute) return undefined;
      const spacingSeconds = 60 / perMinute;
      if (++calls % 500 === 0) await pruneReservations(db, KEEP_RESERVATIONS);
      const reserved = await reserveSlot(db, channel, deliveryKey, spacingSeconds);
      return reserved.ahead_ms > DUE_WITHIN_MS ? reserved.slot : undefined;
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
    const key = (input as { deliveryKey?: unknown } | null)?.deliveryKey;
    if (typeof key === 'string' && key !== '') {
      const slot = await needsDatabase(`taking a ${channel} pacing slot`, () => pacer.slotFor(channel, key));
      if (slot) return { paced: true, channel, notBefore: slot.toISOString() };
    }
    return send(input);
  };
}
