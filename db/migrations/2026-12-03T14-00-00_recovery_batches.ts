/**
 * Bulk recovery and the audit trail: a batch resets or replays the runs a
 * filter matched (its items, fixed when it was created), `recovery_claims`
 * keeps two batches from acting on the same failed run, and `audit_log`
 * records every reset, replay and batch: who, when, why, on what, and how it
 * ended. Step logs keep a FAILED event's failure type, which the filters and
 * groups use. Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table workflow_execution_logs add column error_type text`.execute(db);
  await sql`
    create table recovery_batches (
      id uuid primary key,
      action text not null check (action in ('reset', 'replay')),
      reset_to text check (reset_to in ('failed-step', 'start')),
      filter jsonb not null,
      reason text not null,
      requested_by text not null,
      via_key text,
      concurrency integer not null check (concurrency between 1 and 50),
      total integer not null,
      status text not null default 'RUNNING' check (status in ('RUNNING', 'COMPLETED', 'CANCELLED')),
      workflow_id text not null,
      created_at timestamptz not null default now(),
      finished_at timestamptz
    )`.execute(db);
  await sql`create index idx_recovery_batches_created on recovery_batches (created_at desc, id desc)`.execute(db);
  await sql`
    create table recovery_batch_items (
      batch_id uuid not null references recovery_batches (id) on delete cascade,
      execution_id uuid not null references workflow_executions (id) on delete cascade,
      run_id text not null,
      position integer not null,
      outcome text not null default 'PENDING' check (outcome in ('PENDING', 'WORKING', 'DONE', 'FAILED', 'SKIPPED')),
      claimed_by text,
      detail text,
      result jsonb,
      updated_at timestamptz not null default now(),
      primary key (batch_id, execution_id)
    )`.execute(db);
  await sql`create index idx_recovery_batch_items_next on recovery_batch_items (batch_id, outcome, position)`.execute(db);
  await sql`create index idx_recovery_batch_items_execution on recovery_batch_items (execution_id)`.execute(db);
  await sql`
    create table recovery_claims (
      execution_id uuid not null references workflow_executions (id) on delete cascade,
      run_id text not null,
      batch_id uuid not null references recovery_batches (id) on delete cascade,
      claimed_at timestamptz not null default now(),
      primary key (execution_id, run_id)
    )`.execute(db);
  await sql`
    create table audit_log (
      id bigint generated always as identity primary key,
      at timestamptz not null default now(),
      actor text not null,
      via_key text,
      action text not null,
      target text not null,
      reason text,
      filter jsonb,
      outcome jsonb not null
    )`.execute(db);
  await sql`create index idx_audit_log_at on audit_log (at desc, id desc)`.execute(db);
  await sql`create index idx_audit_log_target on audit_log (target)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table audit_log`.execute(db);
  await sql`drop table recovery_claims`.execute(db);
  await sql`drop table recovery_batch_items`.execute(db);
  await sql`drop table recovery_batches`.execute(db);
  await sql`alter table workflow_execution_logs drop column error_type`.execute(db);
}
