/**
 * Channel pacing: the next free send slot of each paced channel, and the slot
 * each delivery was given, so a send that waited for its slot (or is retried)
 * keeps it instead of taking another. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('channel_pacing')
    .addColumn('channel', 'text', (c) => c.primaryKey())
    .addColumn('next_slot', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('pacing_reservations')
    .addColumn('delivery_key', 'text', (c) => c.primaryKey())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('slot', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('idx_pacing_reservations_slot').on('pacing_reservations').column('slot').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pacing_reservations').execute();
  await db.schema.dropTable('channel_pacing').execute();
}
