/**
 * Reports on the mirror: daily rollups kept fresh by {@link refreshReports},
 * and the queries `/api/reports/*` answer from them.
 *
 * A report over a month of a busy mirror would otherwise aggregate millions
 * of executions and tens of millions of step logs per request. The rollups
 * hold one row per day × definition × version (× step, channel…), and each
 * pass redoes only the days that changed since the last one:
 *
 * - runs: the start days of runs whose outcome changed (`outcome_at`, set by
 *   the database as a run ends, is reopened for a reset, or is put back);
 * - steps and step errors: the days of log rows added since the pass before
 *   last (by id, one pass of overlap for rows committed late);
 * - deliveries: the first-try days of ledger rows updated since.
 *
 * Days are UTC. A pass looks back {@link OVERLAP_MS} past its watermark so a
 * row committed by a statement that began before the last pass is not
 * missed. Rollups outlive the rows they count: `clean-logs` leaves them, so
 * reports reach further back than the mirror keeps runs.
 */
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { OUTBOX_DELIVERY_STATUS } from '../src/shared/run';
import { successRate } from '../src/shared/success-rate';
import type { DeliveryGrouping } from '../src/shared/reports';
import type { Database, ReportRunsDailyTable } from './schema';
import { isDatabaseUnavailable } from './client';

const OVERLAP_MS = 60_000;

/** The rollups, each redone by its own statements in its own transaction. */
const ROLLUPS = ['runs', 'steps', 'deliveries'] as const;
type Rollup = (typeof ROLLUPS)[number];

/** Open statuses: runs not yet in a rollup, counted live. */
const OPEN = ['PENDING', 'RUNNING'] as const;

/** Histogram buckets: bucket b holds durations in [1.1^b, 1.1^(b+1)) ms. */
const BUCKET_BASE = 1.1;

export interface RefreshResult {
  /** Days redone per rollup. */
  days: Record<Rollup, number>;
  ms: number;
}

/** Brings every rollup up to date; safe to call from several processes at once (they take turns). */
export async function refreshReports(db: Kysely<Database>): Promise<RefreshResult> {
  const began = performance.now();
  const days = { runs: 0, steps: 0, deliveries: 0 };
  for (const name of ROLLUPS) days[name] = await refreshRollup(db, name);
  return { days, ms: Math.round(performance.now() - began) };
}

/** A worker's loop of {@link refreshReports}: one pass every `intervalMs`, the next timed from the end of the last. */
export function startReportRefresher(db: Kysely<Database>, logger: Logger, intervalMs: number): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const pass = () => {
    running = refreshReports(db)
      .then((r) => logger.debug(r, 'report rollups refreshed'))
      // Postgres out of reach is logged once by the pool, not at every pass.
      .catch((err: unknown) => (isDatabaseUnavailable(err) ? undefined : logger.warn({ err }, 'report rollups could not be refreshed; trying again at the next pass')))
      .finally(() => {
        if (!stopped) timer = setTimeout(pass, intervalMs);
      });
  };
  timer = setTimeout(pass, Math.min(intervalMs, 5_000));
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

async function refreshRollup(db: Kysely<Database>, name: Rollup): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`wfa-report-${name}`}))`.execute(trx);
    const state = await trx.selectFrom('report_rollup_state').selectAll().where('name', '=', name).executeTakeFirst();
    const { rows: [clock] } = await sql<{ now: Date; since: Date | null }>`
      select now(), ${state?.watermark ?? null}::timestamptz - ${`${OVERLAP_MS} milliseconds`}::interval as since`.execute(trx);
    const since = clock!.since;
    let days: string[];
    let mark: string | null = null;
    if (name === 'runs') {
      days = await dirtyDays(trx, sql`
        select distinct (started_at at time zone 'UTC')::date as day from workflow_executions
        where outcome_at is not null ${since ? sql`and outcome_at >= ${since}` : sql``}`);
      await redoRuns(trx, days);
    } else if (name === 'steps') {
      const { rows: [top] } = await sql<{ mark: string | null }>`select max(id)::text as mark from workflow_execution_logs`.execute(trx);
      mark = top!.mark;
      const after = state?.previous_mark ?? null;
      days = await dirtyDays(trx, sql`
        select distinct (timestamp at time zone 'UTC')::date as day from workflow_execution_logs
        ${after !== null ? sql`where id > ${after}::bigint` : sql``}`);
      await redoSteps(trx, days);
    } else {
      days = await dirtyDays(trx, sql`
        select distinct (created_at at time zone 'UTC')::date as day from deliveries
        ${since ? sql`where status in ('SENDING', 'SENT', 'FAILED', 'UNKNOWN') and updated_at >= ${since}` : sql``}`);
      await redoDeliveries(trx, days);
    }
    await sql`
      insert into report_rollup_state (name, watermark, mark, previous_mark, refreshed_at)
      values (${name}, ${clock!.now}, ${mark}::bigint, ${state ? state.mark : mark}::bigint, ${clock!.now})
      on conflict (name) do update set watermark = excluded.watermark, mark = excluded.mark,
        previous_mark = excluded.previous_mark, refreshed_at = excluded.refreshed_at`.execute(trx);
    return days.length;
  });
}

async function dirtyDays(db: Kysely<Database>, query: ReturnType<typeof sql>): Promise<string[]> {
  const { rows } = await sql<{ day: string }>`select day::text from (${query}) d`.execute(db);
  return rows.map((r) => r.day);
}

/** `day = any(…)` of `days` (YYYY-MM-DD): one parameter however many days there are. */
function anyDay(days: string[]) {
  return sql<Date>`any(${days}::date[])`;
}

/** Each day of `days` as a UTC range, for the statements below to join on (an index range scan per day). */
function dayRanges(days: string[]) {
  return sql`(select d::date as day, (d::date)::timestamp at time zone 'UTC' as day_start, (d::date + 1)::timestamp at time zone 'UTC' as day_end
    from unnest(${days}::text[]) d)`;
}

async function redoRuns(db: Kysely<Database>, days: string[]): Promise<void> {
  if (days.length === 0) return;
  await db.deleteFrom('report_runs_daily').where('day', '=', anyDay(days)).execute();
  await db.deleteFrom('report_durations_daily').where('day', '=', anyDay(days)).execute();
  await sql`
    insert into report_runs_daily
    select d.day, e.definition_id, e.definition_version, count(*),
           count(*) filter (where e.status = 'SUCCESS'), count(*) filter (where e.status = 'FAILED'),
           count(*) filter (where e.status = 'CANCELLED'), count(*) filter (where e.status = 'TIMED_OUT'),
           count(*) filter (where e.status = 'TERMINATED'),
           count(*) filter (where e.status = 'SUCCESS' and v.sla_ms is not null and e.duration_ms > v.sla_ms),
           coalesce(sum(e.duration_ms), 0)
    from ${dayRanges(days)} d
    join workflow_executions e on e.started_at >= d.day_start and e.started_at < d.day_end
    left join workflow_definition_versions v on v.definition_id = e.definition_id and v.version = e.definition_version
    where e.finished_at is not null and e.status not in ('PENDING', 'RUNNING')
    group by d.day, e.definition_id, e.definition_version`.execute(db);
  await sql`
    insert into report_durations_daily
    select d.day, e.definition_id, e.definition_version, floor(ln(greatest(e.duration_ms, 1)) / ln(${BUCKET_BASE}))::smallint, count(*)
    from ${dayRanges(days)} d
    join workflow_executions e on e.started_at >= d.day_start and e.started_at < d.day_end
    where e.status = 'SUCCESS' and e.duration_ms is not null
    group by 1, 2, 3, 4`.execute(db);
}

async function redoSteps(db: Kysely<Database>, days: string[]): Promise<void> {
  if (days.length === 0) return;
  await db.deleteFrom('report_steps_daily').where('day', '=', anyDay(days)).execute();
  await db.deleteFrom('report_step_errors_daily').where('day', '=', anyDay(days)).execute();
  await sql`
    insert into report_steps_daily
    select d.day, e.definition_id, e.definition_version, l.step_id, max(l.step_type),
           count(*) filter (where l.event = 'STARTED'), count(*) filter (where l.event = 'COMPLETED'),
           count(*) filter (where l.event = 'FAILED'), count(*) filter (where l.event = 'SKIPPED')
    from ${dayRanges(days)} d
    join workflow_execution_logs l on l.timestamp >= d.day_start and l.timestamp < d.day_end
    join workflow_executions e on e.id = l.execution_id
    group by d.day, e.definition_id, e.definition_version, l.step_id`.execute(db);
  await sql`
    insert into report_step_errors_daily
    select d.day, e.definition_id, l.step_id, coalesce(l.error_type, ''), count(*), left(max(l.error), 500)
    from ${dayRanges(days)} d
    join workflow_execution_logs l on l.timestamp >= d.day_start and l.timestamp < d.day_end and l.event = 'FAILED'
    join workflow_executions e on e.id = l.execution_id
    group by d.day, e.definition_id, l.step_id, coalesce(l.error_type, '')`.execute(db);
}

async function redoDeliveries(db: Kysely<Database>, days: string[]): Promise<void> {
  if (days.length === 0) return;
  await db.deleteFrom('report_deliveries_daily').where('day', '=', anyDay(days)).execute();
  await sql`
    insert into report_deliveries_daily (day, channel, status, deliveries, attempts, connection)
    select d.day, t.channel, t.status, count(*), coalesce(sum(t.attempts), 0), coalesce(t.connection, '')
    from ${dayRanges(days)} d
    join deliveries t on t.created_at >= d.day_start and t.created_at < d.day_end
    group by d.day, t.channel, t.status, coalesce(t.connection, '')`.execute(db);
}

// --- the queries the API answers ----------------------------------------------------------------

export interface ReportFilter {
  /** First and last UTC day, inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
  /** One definition's id. */
  definitionId?: string | undefined;
}

function byDefinition(filter: ReportFilter, column = sql.ref('r.definition_id')) {
  return filter.definitionId ? sql`and ${column} = ${filter.definitionId}::uuid` : sql``;
}

/** When the rollups were last brought up to date (the oldest of them), or null before the first pass. */
export async function reportsAsOf(db: Kysely<Database>): Promise<Date | null> {
  const row = await db
    .selectFrom('report_rollup_state')
    .select((eb) => [eb.fn.min('refreshed_at').as('as_of'), eb.fn.countAll<number>().as('count')])
    .executeTakeFirstOrThrow();
  return Number(row.count) === ROLLUPS.length ? row.as_of : null;
}

export interface RunCounts {
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  timedOut: number;
  terminated: number;
  slaBreached: number;
  /**
   * Succeeded runs out of those that ended on their own (succeeded, failed,
   * timed out): cancelled and terminated runs are counted beside it, not in
   * it (src/shared/success-rate.ts). Null when none ended so. Computed here,
   * from the counts by outcome, so the rollups hold no rate to go stale.
   */
  successRate: number | null;
}

export interface DailyRow extends RunCounts {
  day: string;
  definitionKey: string;
  definitionVersion: number;
  meanDurationMs: number | null;
}

const COUNTS = sql`coalesce(sum(r.runs), 0)::int as runs, coalesce(sum(r.succeeded), 0)::int as succeeded,
  coalesce(sum(r.failed), 0)::int as failed, coalesce(sum(r.cancelled), 0)::int as cancelled,
  coalesce(sum(r.timed_out), 0)::int as timed_out, coalesce(sum(r.terminated), 0)::int as terminated,
  coalesce(sum(r.sla_breached), 0)::int as sla_breached, coalesce(sum(r.duration_sum_ms), 0)::bigint::text as duration_sum_ms`;

/** The rollup's counts as COUNTS sums them: the table's columns, the duration's sum as text (a bigint). */
type CountRow = Omit<ReportRunsDailyTable, 'day' | 'definition_id' | 'definition_version' | 'duration_sum_ms'> & { duration_sum_ms: string };

function counts(r: CountRow): RunCounts {
  return {
    runs: r.runs,
    succeeded: r.succeeded,
    failed: r.failed,
    cancelled: r.cancelled,
    timedOut: r.timed_out,
    terminated: r.terminated,
    slaBreached: r.sla_breached,
    successRate: successRate({ succeeded: r.succeeded, failed: r.failed, timedOut: r.timed_out }),
  };
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

/** Ended runs per day × definition × version, newest day first. */
export async function dailyReport(db: Kysely<Database>, filter: ReportFilter): Promise<DailyRow[]> {
  const { rows } = await sql<CountRow & { day: string; key: string; definition_version: number }>`
    select r.day::text as day, d.key, r.definition_version, ${COUNTS}
    from report_runs_daily r join workflow_definitions d on d.id = r.definition_id
    where r.day between ${filter.from}::date and ${filter.to}::date ${byDefinition(filter)}
    group by r.day, d.key, r.definition_version
    order by r.day desc, d.key, r.definition_version`.execute(db);
  return rows.map((r) => ({
    day: r.day,
    definitionKey: r.key,
    definitionVersion: r.definition_version,
    ...counts(r),
    meanDurationMs: r.runs > 0 ? Math.round(Number(r.duration_sum_ms) / r.runs) : null,
  }));
}

export interface StepRow {
  definitionKey: string;
  stepId: string;
  stepType: string;
  started: number;
  completed: number;
  failed: number;
  skipped: number;
  /** Failed out of finished (completed or failed) step executions; null when none finished. */
  failureRate: number | null;
  topErrors: { errorType: string | null; failures: number; sample: string | null }[];
}

/** Steps by failures, most first, each with its three commonest errors. */
export async function stepsReport(db: Kysely<Database>, filter: ReportFilter, limit = 100): Promise<StepRow[]> {
  const { rows } = await sql<{ definition_id: string; key: string; step_id: string; step_type: string; started: number; completed: number; failed: number; skipped: number }>`
    select r.definition_id, d.key, r.step_id, max(r.step_type) as step_type, sum(r.started)::int as started, sum(r.completed)::int as completed,
           sum(r.failed)::int as failed, sum(r.skipped)::int as skipped
    from report_steps_daily r join workflow_definitions d on d.id = r.definition_id
    where r.day between ${filter.from}::date and ${filter.to}::date ${byDefinition(filter)}
    group by r.definition_id, d.key, r.step_id
    order by failed desc, started desc, d.key, r.step_id
    limit ${limit}`.execute(db);
  const failing = rows.filter((r) => r.failed > 0);
  const errors = failing.length
    ? (
        await sql<{ definition_id: string; step_id: string; error_type: string; failures: number; sample: string | null; rank: string }>`
          select * from (
            select r.definition_id, r.step_id, r.error_type, sum(r.failures)::int as failures, max(r.sample) as sample,
                   row_number() over (partition by r.definition_id, r.step_id order by sum(r.failures) desc, r.error_type) as rank
            from report_step_errors_daily r
            where r.day between ${filter.from}::date and ${filter.to}::date ${byDefinition(filter)}
              and (r.definition_id, r.step_id) in (select * from unnest(${failing.map((r) => r.definition_id)}::uuid[], ${failing.map((r) => r.step_id)}::text[]))
            group by r.definition_id, r.step_id, r.error_type
          ) ranked where rank <= 3`.execute(db)
      ).rows
    : [];
  return rows.map((r) => ({
    definitionKey: r.key,
    stepId: r.step_id,
    stepType: r.step_type,
    started: r.started,
    completed: r.completed,
    failed: r.failed,
    skipped: r.skipped,
    failureRate: r.completed + r.failed > 0 ? round(r.failed / (r.completed + r.failed)) : null,
    topErrors: errors
      .filter((e) => e.definition_id === r.definition_id && e.step_id === r.step_id)
      .sort((a, b) => Number(a.rank) - Number(b.rank))
      .map((e) => ({ errorType: e.error_type || null, failures: e.failures, sample: e.sample })),
  }));
}

export interface DeliveryRow {
  day: string;
  channel: string;
  /** With `by: 'connection'`: the connection sent through, null for the channel's settings from the environment. */
  connection?: string | null;
  status: string;
  deliveries: number;
  attempts: number;
}

export interface DeliveryFilter extends Omit<ReportFilter, 'definitionId'> {
  /** Rows per channel (the default), or per channel × connection. */
  by?: DeliveryGrouping | undefined;
  /** Only the deliveries through this connection. */
  connection?: string | undefined;
}

/**
 * Dev-outbox messages (DEV_OUTBOX, development only) per day × channel, as
 * delivery rows of status `OUTBOX`: recorded, not delivered. Counted live
 * from `dev_outbox`, which production never writes. A channel with a
 * connection has credentials, so these are all the environment's ('').
 */
function outboxDeliveries(filter: Omit<ReportFilter, 'definitionId'>) {
  return sql`
    select (o.created_at at time zone 'UTC')::date as day, o.channel, ''::text as connection, ${OUTBOX_DELIVERY_STATUS}::text as status, count(*)::int as deliveries, 0::bigint as attempts
    from dev_outbox o
    where o.created_at >= ${filter.from}::date::timestamp at time zone 'UTC' and o.created_at < (${filter.to}::date + 1)::timestamp at time zone 'UTC'
    group by 1, 2`;
}

/**
 * Deliveries per day × channel × ledger status (× connection, `by:
 * 'connection'`), and dev-outbox messages as `OUTBOX`, newest day first;
 * with `connection`, only those through it.
 */
export async function deliveriesReport(db: Kysely<Database>, filter: DeliveryFilter): Promise<DeliveryRow[]> {
  const perConnection = filter.by === 'connection' || filter.connection !== undefined;
  const connection = perConnection ? sql`connection` : sql`''::text`;
  const { rows } = await sql<{ day: string; channel: string; connection: string; status: string; deliveries: number; attempts: string }>`
    select day::text as day, channel, ${connection} as connection, status, sum(deliveries)::int as deliveries, sum(attempts)::text as attempts from (
      select day, channel, connection, status, deliveries, attempts from report_deliveries_daily
      where day between ${filter.from}::date and ${filter.to}::date
      union all ${outboxDeliveries(filter)}
    ) d
    ${filter.connection !== undefined ? sql`where connection = ${filter.connection}` : sql``}
    group by 1, 2, 3, 4
    order by day desc, channel, connection, status`.execute(db);
  return rows.map(({ connection: through, ...r }) => ({
    ...r,
    ...(perConnection ? { connection: through || null } : {}),
    attempts: Number(r.attempts),
  }));
}

export interface Summary extends RunCounts {
  /** Runs not yet ended (live), and those of them past their version's SLA. */
  open: number;
  openPastSla: number;
  /** Successful runs' durations, estimated from the rollup's histogram (to within 5%). */
  durationMs: { p50: number | null; p95: number | null; p99: number | null };
  failingDefinitions: { definitionKey: string; runs: number; failed: number; successRate: number | null }[];
  deliveries: { channel: string; status: string; deliveries: number }[];
}

/** The whole range in one answer: counts, durations, open runs, what fails most, deliveries. */
export async function summaryReport(db: Kysely<Database>, filter: ReportFilter): Promise<Summary> {
  const range = sql`r.day between ${filter.from}::date and ${filter.to}::date ${byDefinition(filter)}`;
  const [totals, buckets, failing, deliveries, open] = await Promise.all([
    sql<CountRow>`select ${COUNTS} from report_runs_daily r where ${range}`.execute(db),
    sql<{ bucket: number; runs: number }>`
      select r.bucket, sum(r.runs)::int as runs from report_durations_daily r where ${range} group by r.bucket order by r.bucket`.execute(db),
    sql<CountRow & { key: string }>`
      select d.key, ${COUNTS} from report_runs_daily r join workflow_definitions d on d.id = r.definition_id
      where ${range} group by d.key having sum(r.failed + r.timed_out) > 0
      order by sum(r.failed + r.timed_out) desc, d.key limit 10`.execute(db),
    filter.definitionId
      ? Promise.resolve({ rows: [] as { channel: string; status: string; deliveries: number }[] })
      : sql<{ channel: string; status: string; deliveries: number }>`
          select channel, status, sum(deliveries)::int as deliveries from (
            select channel, status, deliveries from report_deliveries_daily r where r.day between ${filter.from}::date and ${filter.to}::date
            union all select channel, status, deliveries from (${outboxDeliveries(filter)}) o
          ) d group by channel, status order by channel, status`.execute(db),
    sql<{ open: number; past_sla: number }>`
      select count(*)::int as open,
             count(*) filter (where v.sla_ms is not null and e.started_at < now() - v.sla_ms * interval '1 millisecond')::int as past_sla
      from workflow_executions e
      left join workflow_definition_versions v on v.definition_id = e.definition_id and v.version = e.definition_version
      where e.status in (${sql.join(OPEN.map((s) => sql`${s}`))})
        and e.started_at >= ${filter.from}::date::timestamp at time zone 'UTC'
        and e.started_at < (${filter.to}::date + 1)::timestamp at time zone 'UTC'
        ${byDefinition(filter, sql.ref('e.definition_id'))}`.execute(db),
  ]);
  return {
    ...counts(totals.rows[0]!),
    open: open.rows[0]!.open,
    openPastSla: open.rows[0]!.past_sla,
    durationMs: percentiles(buckets.rows),
    failingDefinitions: failing.rows.map((r) => {
      const c = counts(r);
      return { definitionKey: r.key, runs: c.runs, failed: c.failed + c.timedOut, successRate: c.successRate };
    }),
    deliveries: deliveries.rows,
  };
}

/** p50, p95 and p99 of a histogram of {@link BUCKET_BASE}-geometric buckets: each bucket's geometric middle. */
export function percentiles(buckets: { bucket: number; runs: number }[]): Summary['durationMs'] {
  const total = buckets.reduce((n, b) => n + b.runs, 0);
  const at = (q: number): number | null => {
    if (total === 0) return null;
    let below = 0;
    for (const b of buckets) {
      below += b.runs;
      if (below >= q * total) return Math.round(BUCKET_BASE ** (b.bucket + 0.5));
    }
    return null;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
