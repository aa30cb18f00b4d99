/**
 * The delivery ledger: one row per delivery, keyed by workflow id and step
 * path, recording intent before a provider is called and the outcome after.
 * Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('deliveries')
    .addColumn('delivery_key', 'text', (c) => c.primaryKey())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('SENDING', 'SENT', 'FAILED', 'UNKNOWN')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('step_path', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('result', 'jsonb')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('idx_deliveries_workflow_id').on('deliveries').column('workflow_id').execute();
  await db.schema.createIndex('idx_deliveries_status').on('deliveries').columns(['status', 'updated_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('deliveries').execute();
}
