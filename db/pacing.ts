/**
 * Channel pacing's tables (activities/pacing.ts decides when to ask): one
 * row per budget holding its next free slot (a channel's, named by the
 * channel, or a connection's own), and each delivery's slot kept under its
 * delivery key so a retry finds the one it took.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema';

export interface Slot {
  slot: Date;
  /** How far ahead of the database's clock the slot lies, in milliseconds (negative once past). */
  ahead_ms: number;
}

/**
 * The slot reserved for `deliveryKey`, or else the next free one of the budget `channel` names,
 * `spacingSeconds` after the last (or now), reserved for it. One transaction:
 * two deliveries never take the same slot, and one never takes two.
 */
export async function reserveSlot(db: Kysely<Database>, channel: string, deliveryKey: string, spacingSeconds: number): Promise<Slot> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('pacing_reservations')
      .select(['slot', sql<number>`(extract(epoch from (slot - now())) * 1000)::float8`.as('ahead_ms')])
      .where('delivery_key', '=', deliveryKey)
      .executeTakeFirst();
    if (existing) return existing;
    const taken = await sql<Slot>`
      insert into channel_pacing (channel, next_slot)
      values (${channel}, now() + make_interval(secs => ${spacingSeconds}))
      on conflict (channel) do update
        set next_slot = greatest(channel_pacing.next_slot, now()) + make_interval(secs => ${spacingSeconds})
      returning next_slot - make_interval(secs => ${spacingSeconds}) as slot,
                (extract(epoch from (next_slot - make_interval(secs => ${spacingSeconds}) - now())) * 1000)::float8 as ahead_ms`.execute(trx);
    const row = taken.rows[0]!;
    await trx
      .insertInto('pacing_reservations')
      .values({ delivery_key: deliveryKey, channel, slot: row.slot })
      .onConflict((oc) => oc.column('delivery_key').doNothing())
      .execute();
    return row;
  });
}

/** Deletes reservations whose slot is more than `olderThan` (a Postgres interval, e.g. '7 days') past. */
export async function pruneReservations(db: Kysely<Database>, olderThan: string): Promise<void> {
  await db
    .deleteFrom('pacing_reservations')
    .where('slot', '<', sql<Date>`now() - ${olderThan}::interval`)
    .execute();
}
