/** The dev outbox: a message recorded instead of sent (activities/outbox.ts decides when), and reading them back, newest first. */
import { type Kysely, sql } from 'kysely';
import type { Database, NewDevOutboxRow } from './schema';

/**
 * Records the message once per delivery key: answers its id, and whether this
 * call wrote it (false: a retried or reset step had recorded it already).
 */
export async function recordOutboxMessage(db: Kysely<Database>, row: NewDevOutboxRow): Promise<{ id: string; fresh: boolean }> {
  const inserted = await db
    .insertInto('dev_outbox')
    .values(row)
    .onConflict((oc) => oc.column('delivery_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, fresh: true };
  const existing = await db.selectFrom('dev_outbox').select('id').where('delivery_key', '=', row.delivery_key).executeTakeFirstOrThrow();
  return { id: existing.id, fresh: false };
}

export interface OutboxFilter {
  /** One run's messages, by its execution id (its foreach slices' included). */
  executionId?: string | undefined;
  channel?: string | undefined;
  limit: number;
}

export async function listOutbox(db: Kysely<Database>, filter: OutboxFilter) {
  let q = db
    .selectFrom('dev_outbox as o')
    .leftJoin('workflow_executions as e', 'e.workflow_id', 'o.workflow_id')
    .select(['o.id', 'o.channel', 'o.recipient', 'o.workflow_id', 'o.step_path', 'o.message', 'o.created_at', 'e.id as execution_id'])
    .orderBy('o.created_at', 'desc')
    .orderBy('o.id', 'desc')
    .limit(filter.limit);
  if (filter.channel !== undefined) q = q.where('o.channel', '=', filter.channel);
  if (filter.executionId !== undefined) {
    // A foreach slice records under its own workflow id, `<run's workflow id>:<step path>:<offset>`: its messages are the run's too.
    q = q.where(
      sql<boolean>`exists (select 1 from workflow_executions r where r.id = ${filter.executionId}::uuid
        and (o.workflow_id = r.workflow_id or o.workflow_id like r.workflow_id || ':%'))`,
    );
  }
  return q.execute();
}
