/**
 * The deliveries rollup counts per connection too (`''`: the channel's
 * settings from the environment), so the deliveries report can be grouped
 * and filtered by connection. Only days holding deliveries through a
 * connection are counted again: before the ledger recorded connections every
 * delivery used the environment's settings, which `''` already says, and
 * counting older days again would lose what retention has deleted since.
 * Frozen: later changes go in new migrations.
 */
import { type Kysely, sql } from 'kysely';

/** The UTC days holding a delivery through a connection. */
const CONNECTION_DAYS = sql`(select distinct (created_at at time zone 'UTC')::date from deliveries where connection is not null)`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table report_deliveries_daily add column connection text not null default ''`.execute(db);
  await sql`alter table report_deliveries_daily drop constraint report_deliveries_daily_pkey`.execute(db);
  await sql`alter table report_deliveries_daily add primary key (day, channel, connection, status)`.execute(db);
  await sql`delete from report_deliveries_daily where day in ${CONNECTION_DAYS}`.execute(db);
  await sql`
    insert into report_deliveries_daily (day, channel, status, deliveries, attempts, connection)
    select (t.created_at at time zone 'UTC')::date, t.channel, t.status, count(*), coalesce(sum(t.attempts), 0), coalesce(t.connection, '')
    from deliveries t
    where (t.created_at at time zone 'UTC')::date in ${CONNECTION_DAYS}
    group by 1, t.channel, t.status, coalesce(t.connection, '')`.execute(db);
  await sql`
    create or replace view report_deliveries as
    select day, channel, status, deliveries, attempts, nullif(connection, '') as connection from report_deliveries_daily`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop view report_deliveries`.execute(db);
  // Each day × channel × status once again: the connections' rows merged into one, the rest deleted.
  await sql`
    insert into report_deliveries_daily (day, channel, status, deliveries, attempts, connection)
    select day, channel, status, sum(deliveries), sum(attempts), '*' from report_deliveries_daily group by day, channel, status`.execute(db);
  await sql`delete from report_deliveries_daily where connection <> '*'`.execute(db);
  await sql`alter table report_deliveries_daily drop column connection`.execute(db);
  await sql`alter table report_deliveries_daily add primary key (day, channel, status)`.execute(db);
  await sql`create view report_deliveries as select day, channel, status, deliveries, attempts from report_deliveries_daily`.execute(db);
}
