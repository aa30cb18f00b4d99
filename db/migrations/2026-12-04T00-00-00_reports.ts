/**
 * Reports: daily rollups of runs, durations, steps, step errors and
 * deliveries (kept by db/reports.ts, which redoes only the days that
 * changed), the views analysts query, and what the rollup needs to find
 * changed days: `outcome_at` on executions, an index on deliveries'
 * `created_at`, a version's `sla` in milliseconds. Frozen: later changes go
 * in new migrations.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table workflow_definition_versions add column sla_ms bigint check (sla_ms > 0)`.execute(db);
  await sql`alter table workflow_executions add column outcome_at timestamptz`.execute(db);
  await sql`update workflow_executions set outcome_at = finished_at where finished_at is not null`.execute(db);
  await sql`create index idx_execution_outcome_at on workflow_executions (outcome_at) where outcome_at is not null`.execute(db);
  await sql`create index idx_deliveries_created_at on deliveries (created_at)`.execute(db);

  // Runs that ended, by the UTC day they started, definition and version.
  await sql`
    create table report_runs_daily (
      day date not null,
      definition_id uuid not null,
      definition_version integer not null,
      runs integer not null,
      succeeded integer not null,
      failed integer not null,
      cancelled integer not null,
      timed_out integer not null,
      terminated integer not null,
      sla_breached integer not null,
      duration_sum_ms bigint not null,
      primary key (day, definition_id, definition_version)
    )`.execute(db);
  // Durations of successful runs as a histogram: bucket b holds durations in [1.1^b, 1.1^(b+1)) ms.
  await sql`
    create table report_durations_daily (
      day date not null,
      definition_id uuid not null,
      definition_version integer not null,
      bucket smallint not null,
      runs integer not null,
      primary key (day, definition_id, definition_version, bucket)
    )`.execute(db);
  // Step events by the UTC day they happened.
  await sql`
    create table report_steps_daily (
      day date not null,
      definition_id uuid not null,
      definition_version integer not null,
      step_id text not null,
      step_type text not null,
      started integer not null,
      completed integer not null,
      failed integer not null,
      skipped integer not null,
      primary key (day, definition_id, definition_version, step_id)
    )`.execute(db);
  await sql`
    create table report_step_errors_daily (
      day date not null,
      definition_id uuid not null,
      step_id text not null,
      error_type text not null,
      failures integer not null,
      sample text,
      primary key (day, definition_id, step_id, error_type)
    )`.execute(db);
  // Deliveries by the UTC day they were first tried.
  await sql`
    create table report_deliveries_daily (
      day date not null,
      channel text not null,
      status text not null,
      deliveries integer not null,
      attempts bigint not null,
      primary key (day, channel, status)
    )`.execute(db);
  // Where each rollup's last pass got to.
  await sql`
    create table report_rollup_state (
      name text primary key,
      watermark timestamptz,
      mark bigint,
      previous_mark bigint,
      refreshed_at timestamptz not null
    )`.execute(db);

  // --- the views analysts query (docs/ADMIN_GUIDE.md, "Reports") ---
  await sql`
    create view report_daily_runs as
    select r.day, d.key as definition_key, r.definition_version, r.runs, r.succeeded, r.failed, r.cancelled, r.timed_out, r.terminated,
           round(r.succeeded::numeric / nullif(r.runs, 0), 4) as success_rate, r.sla_breached,
           round(r.duration_sum_ms::numeric / nullif(r.runs, 0)) as mean_duration_ms
    from report_runs_daily r join workflow_definitions d on d.id = r.definition_id`.execute(db);
  await sql`
    create view report_step_failures as
    select s.day, d.key as definition_key, s.definition_version, s.step_id, s.step_type, s.started, s.completed, s.failed, s.skipped,
           round(s.failed::numeric / nullif(s.completed + s.failed, 0), 4) as failure_rate
    from report_steps_daily s join workflow_definitions d on d.id = s.definition_id`.execute(db);
  await sql`
    create view report_top_errors as
    select d.key as definition_key, e.step_id, nullif(e.error_type, '') as error_type, sum(e.failures)::integer as failures,
           max(e.sample) as sample, min(e.day) as first_day, max(e.day) as last_day
    from report_step_errors_daily e join workflow_definitions d on d.id = e.definition_id
    where e.day >= (now() at time zone 'UTC')::date - 30
    group by d.key, e.step_id, e.error_type`.execute(db);
  // Percentiles over the last 30 days, from the histogram (to within 5%).
  await sql`
    create view report_durations as
    with buckets as (
      select definition_id, definition_version, bucket, sum(runs) as runs
      from report_durations_daily where day >= (now() at time zone 'UTC')::date - 30
      group by definition_id, definition_version, bucket
    ), ranked as (
      select *, sum(runs) over (partition by definition_id, definition_version order by bucket) as below,
             sum(runs) over (partition by definition_id, definition_version) as total
      from buckets
    )
    select d.key as definition_key, r.definition_version, max(r.total)::integer as runs,
           round(power(1.1, min(r.bucket) filter (where r.below >= 0.5 * r.total) + 0.5)) as p50_ms,
           round(power(1.1, min(r.bucket) filter (where r.below >= 0.95 * r.total) + 0.5)) as p95_ms,
           round(power(1.1, min(r.bucket) filter (where r.below >= 0.99 * r.total) + 0.5)) as p99_ms
    from ranked r join workflow_definitions d on d.id = r.definition_id
    group by d.key, r.definition_version`.execute(db);
  await sql`
    create view report_deliveries as
    select day, channel, status, deliveries, attempts from report_deliveries_daily`.execute(db);
  // Straight from the mirror: decisions are few.
  await sql`
    create view report_approvals as
    select d.key as definition_key, a.step_path, count(*)::integer as decisions,
           count(*) filter (where a.decision = 'approve')::integer as approved,
           count(*) filter (where a.decision = 'reject')::integer as rejected,
           count(*) filter (where a.automatic)::integer as automatic,
           percentile_cont(0.5) within group (order by extract(epoch from a.decided_at - l.timestamp)) as wait_p50_s,
           percentile_cont(0.95) within group (order by extract(epoch from a.decided_at - l.timestamp)) as wait_p95_s
    from approval_decisions a
    join workflow_executions e on e.id = a.execution_id
    join workflow_definitions d on d.id = e.definition_id
    left join lateral (
      select max(timestamp) as timestamp from workflow_execution_logs l
      where l.execution_id = a.execution_id and l.step_path = a.step_path and l.event = 'STARTED' and l.timestamp <= a.decided_at
    ) l on true
    group by d.key, a.step_path`.execute(db);
  // Runs that succeeded later than their version's SLA, or are still open past it.
  await sql`
    create view report_sla_breaches as
    select e.id as execution_id, d.key as definition_key, e.definition_version, e.status, e.started_at, e.finished_at, e.duration_ms, v.sla_ms,
           coalesce(e.duration_ms, floor(extract(epoch from now() - e.started_at) * 1000)) - v.sla_ms as over_ms
    from workflow_executions e
    join workflow_definition_versions v on v.definition_id = e.definition_id and v.version = e.definition_version
    join workflow_definitions d on d.id = e.definition_id
    where v.sla_ms is not null
      and ((e.status = 'SUCCESS' and e.duration_ms > v.sla_ms)
        or (e.status in ('PENDING', 'RUNNING') and e.started_at < now() - v.sla_ms * interval '1 millisecond'))`.execute(db);
  // The seed guide's daily check, on this schema.
  await sql`
    create view report_daily_check as
    select date(started_at) as date, count(*) as executions, sum(case when status = 'SUCCESS' then 1 else 0 end) as successful
    from workflow_executions
    where started_at >= now() - interval '1 day'
    group by date(started_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const view of ['report_daily_check', 'report_sla_breaches', 'report_approvals', 'report_deliveries', 'report_durations', 'report_top_errors', 'report_step_failures', 'report_daily_runs']) {
    await sql`drop view ${sql.ref(view)}`.execute(db);
  }
  for (const table of ['report_rollup_state', 'report_deliveries_daily', 'report_step_errors_daily', 'report_steps_daily', 'report_durations_daily', 'report_runs_daily']) {
    await sql`drop table ${sql.ref(table)}`.execute(db);
  }
  await sql`drop index idx_deliveries_created_at`.execute(db);
  await sql`drop index idx_execution_outcome_at`.execute(db);
  await sql`alter table workflow_executions drop column outcome_at`.execute(db);
  await sql`alter table workflow_definition_versions drop column sla_ms`.execute(db);
}
