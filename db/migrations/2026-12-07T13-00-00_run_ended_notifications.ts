/**
 * Postgres tells listeners when a run's mirror row reaches a final status,
 * whoever wrote it (the worker's final write, the reconciler, a cancel or
 * terminate): a NOTIFY on the `wfa_run_ended` channel with the execution id,
 * sent when the transaction commits. A gateway answering
 * `GET /api/executions/{id}?wait=…` wakes on it (src/gateway/run-endings.ts)
 * instead of asking again and again. The trigger's WHEN is checked without
 * calling the function, so other writes of the row cost nothing more.
 * Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

const FINAL = sql.raw(`('SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT')`);

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function wfa_notify_run_ended() returns trigger language plpgsql as $$
    begin
      perform pg_notify('wfa_run_ended', new.id::text);
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger workflow_executions_ended_on_insert
    after insert on workflow_executions
    for each row when (new.status in ${FINAL}) execute function wfa_notify_run_ended()`.execute(db);
  await sql`
    create trigger workflow_executions_ended
    after update of status on workflow_executions
    for each row when (new.status in ${FINAL} and old.status is distinct from new.status) execute function wfa_notify_run_ended()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger workflow_executions_ended on workflow_executions`.execute(db);
  await sql`drop trigger workflow_executions_ended_on_insert on workflow_executions`.execute(db);
  await sql`drop function wfa_notify_run_ended()`.execute(db);
}
