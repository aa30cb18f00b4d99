/**
 * `report_daily_runs.success_rate` over the runs that ended on their own
 * (succeeded, failed, timed out), as the API and the console count it
 * (src/shared/success-rate.ts): cancelled and terminated runs stay in their
 * own columns and out of the rate. The rollup rows hold counts only, so the
 * view applies the new rate to every day already rolled up. Frozen: later
 * changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

function dailyRunsView(rate: ReturnType<typeof sql>) {
  return sql`
    create or replace view report_daily_runs as
    select r.day, d.key as definition_key, r.definition_version, r.runs, r.succeeded, r.failed, r.cancelled, r.timed_out, r.terminated,
           ${rate} as success_rate, r.sla_breached,
           round(r.duration_sum_ms::numeric / nullif(r.runs, 0)) as mean_duration_ms
    from report_runs_daily r join workflow_definitions d on d.id = r.definition_id`;
}

export async function up(db: Kysely<any>): Promise<void> {
  await dailyRunsView(sql`round(r.succeeded::numeric / nullif(r.succeeded + r.failed + r.timed_out, 0), 4)`).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await dailyRunsView(sql`round(r.succeeded::numeric / nullif(r.runs, 0), 4)`).execute(db);
}
