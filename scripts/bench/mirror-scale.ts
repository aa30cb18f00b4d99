/**
 * `mirror-scale`: the queries behind `GET /api/executions` (list, filters,
 * cursor pages), the execution detail (row and logs) and `/api/reports/*` on
 * a generated mirror of a million runs, ten million log rows and 600,000
 * deliveries, in a database this benchmark creates and drops. The queries are
 * the API's own functions (db/executions.ts, db/reports.ts); their SQL is
 * taken from what those functions send, for EXPLAIN. The report rollups'
 * first pass over all of it, and later passes, are timed too.
 *
 * When an index migration is under comparison (`COMPARED_MIGRATIONS`), the
 * data is generated on the schema before it, every query measured, the
 * migration applied, and every query measured again.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createDb } from '../../db/client';
import { type ExecutionFilter, findExecution, listExecutionLogs, listExecutions } from '../../db/executions';
import { dailyReport, deliveriesReport, refreshReports, stepsReport, summaryReport } from '../../db/reports';
import { createMigrator, migrateToLatest } from '../../db/migrator';
import type { Database } from '../../db/schema';
import { dropDatabase, ensureDatabase } from '../lib/postgres';
import type { Say } from '../lib/temporal';
import type { Benchmark, RunOptions } from './benchmarks';
import { rotate } from './measure';
import { quantile, type Row, type Table } from './stats';

/** Workload of the default run, at scale 1. */
export const MIRROR_SCALE_SIZES = {
  executions: 1_000_000,
  /** Log rows per execution, on average (3 to 7 steps, a STARTED and a COMPLETED row each). */
  logsPerExecution: 10,
  definitions: 60,
  days: 90,
  warmUp: 3,
  iterations: 60,
  /** Share of executions with a delivery in the ledger. */
  deliveryShare: 0.6,
  /** The target, per list or detail query. */
  p95TargetMs: 50,
  /** The target, per report query. */
  reportP95TargetMs: 100,
} as const;

/**
 * Index migrations measured before and after: the data is loaded on the
 * schema without them. Empty: the schema as the migrator has it.
 */
export const COMPARED_MIGRATIONS: string[] = [];

const CATEGORIES = ['billing', 'onboarding', 'alerts', 'marketing', 'operations', 'support', 'security', 'reports'];
const STEP_TYPES = ['set', 'condition', 'email', 'slack', 'http', 'db_update', 'sms'];

type Captured = { sql: string; parameters: readonly unknown[] };

/** A handle on the same database that remembers the statements sent through it, to EXPLAIN them. */
function capturingDb(url: string): { db: Kysely<Database>; statements: Captured[]; close(): Promise<void> } {
  const statements: Captured[] = [];
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      statements.push({ sql: event.query.sql, parameters: event.query.parameters });
    },
  });
  return { db, statements, close: () => db.destroy() };
}

// --- the data ------------------------------------------------------------------------------

/** Drops a table's secondary indexes and constraints for a bulk load; answers the statements that put them back. */
async function stripForLoad(db: Kysely<Database>, table: string, dropPrimaryKey: boolean): Promise<string[]> {
  const constraints = await sql<{ name: string; def: string; type: string }>`
    select conname as name, pg_get_constraintdef(oid) as def, contype as type
    from pg_constraint where conrelid = ${table}::regclass and contype in ('p', 'u', 'f')`.execute(db);
  const indexes = await sql<{ name: string; def: string }>`
    select i.indexname as name, i.indexdef as def from pg_indexes i
    where i.tablename = ${table} and not exists (select 1 from pg_constraint c where c.conindid = (quote_ident(i.indexname))::regclass)`.execute(db);
  const kept = constraints.rows.filter((c) => c.type === 'p' && !dropPrimaryKey);
  const dropped = constraints.rows.filter((c) => !kept.includes(c));
  const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
  for (const i of indexes.rows) await sql.raw(`drop index ${ident(i.name)}`).execute(db);
  // Foreign keys first, the primary key (which a foreign key may lean on) last.
  for (const c of [...dropped].sort((a, b) => (a.type === 'p' ? 1 : 0) - (b.type === 'p' ? 1 : 0))) {
    await sql.raw(`alter table ${ident(table)} drop constraint ${ident(c.name)}`).execute(db);
  }
  return [
    ...dropped.filter((c) => c.type === 'p').map((c) => `alter table ${ident(table)} add constraint ${ident(c.name)} ${c.def}`),
    ...dropped.filter((c) => c.type === 'u').map((c) => `alter table ${ident(table)} add constraint ${ident(c.name)} ${c.def}`),
    ...indexes.rows.map((i) => i.def),
    ...dropped.filter((c) => c.type === 'f').map((c) => `alter table ${ident(table)} add constraint ${ident(c.name)} ${c.def}`),
  ];
}

/**
 * Definitions, a million executions over 90 days and ten log rows each, with
 * INSERT … SELECT generate_series. Popularity of definitions is skewed (the
 * busiest has about 13% of the runs, the quietest under 1%); a third of the
 * definitions come from one of 12 templates; runs are denser in recent weeks.
 */
async function generate(db: Kysely<Database>, executions: number, say: Say): Promise<void> {
  const size = MIRROR_SCALE_SIZES;
  await sql`
    insert into workflow_definitions (key, name, category, template_key, trigger_type, current_version)
    select 'scale-def-' || lpad(g::text, 2, '0'), 'Generated definition ' || g,
           (${sql.val(CATEGORIES)}::text[])[1 + (g * 7 + g / 8) % ${CATEGORIES.length}],
           case when g % 3 = 0 then 'tpl-' || lpad(((g / 3) % 12)::text, 2, '0') end,
           (array['manual', 'webhook', 'schedule'])[1 + g % 3], 1
    from generate_series(0, ${size.definitions - 1}) g`.execute(db);
  await sql`
    insert into workflow_definition_versions (definition_id, version, document, sla_ms)
    select id, 1, jsonb_build_object('key', key, 'name', name, 'steps', '[]'::jsonb),
           case when right(key, 1)::int % 4 = 0 then 10000 end
    from workflow_definitions`.execute(db);

  await db.connection().execute(async (conn) => {
    await sql`set synchronous_commit = off`.execute(conn);
    await sql`set maintenance_work_mem = '1GB'`.execute(conn);
    await sql`set max_parallel_maintenance_workers = 2`.execute(conn);
    // The log table loses everything (nothing refers to it); executions keep their primary key, which others refer to.
    const restoreLogs = await stripForLoad(conn, 'workflow_execution_logs', true);
    const restoreRuns = await stripForLoad(conn, 'workflow_executions', false);
    const restoreDeliveries = await stripForLoad(conn, 'deliveries', true);

    await sql`
      create temporary table scale_defs as
      select (row_number() over (order by key)) - 1 as n, id, key, category, template_key from workflow_definitions`.execute(conn);
    const t0 = performance.now();
    // Status by age: the last hour still has runs in flight; a few older ones wait (approvals, sleeps).
    await sql`
      insert into workflow_executions (id, definition_id, definition_version, workflow_id, run_id, status, trigger_type, trigger_data,
                                       template_key, category, current_step, error, started_at, finished_at, duration_ms, updated_at, outcome_at)
      select x.id, d.id, 1, d.key || '-' || x.id, x.id::text, x.status,
             (array['manual', 'webhook', 'schedule', 'call'])[1 + floor(x.r3 * 4)::int],
             jsonb_build_object('orderId', 'A-' || x.g, 'total', floor(x.r3 * 500)::int),
             d.template_key, d.category,
             case when x.status in ('RUNNING', 'PENDING') then 'step2' end,
             case when x.status in ('FAILED', 'TIMED_OUT') then 'step ' || (1 + x.g % 5) || ' failed: provider answered 503' end,
             x.started_at,
             case when x.status not in ('RUNNING', 'PENDING') then x.started_at + x.duration * interval '1 millisecond' end,
             case when x.status not in ('RUNNING', 'PENDING') then x.duration end,
             x.started_at + x.duration * interval '1 millisecond',
             case when x.status not in ('RUNNING', 'PENDING') then x.started_at + x.duration * interval '1 millisecond' end
      from (
        select y.*,
               case
                 when y.started_at > now() - interval '1 hour' and y.r2 < 0.3 then 'RUNNING'
                 when y.r2 < 0.004 then 'RUNNING'
                 when y.r2 < 0.0045 then 'PENDING'
                 when y.r2 < 0.90 then 'SUCCESS'
                 when y.r2 < 0.955 then 'FAILED'
                 when y.r2 < 0.97 then 'CANCELLED'
                 when y.r2 < 0.98 then 'TERMINATED'
                 else 'TIMED_OUT'
               end as status,
               floor(200 + 20000 * power(y.r3, 3))::bigint as duration
        from (
          select g, gen_random_uuid() as id,
                 floor(${size.definitions} * power(random(), 2))::int as n,
                 now() - (${size.days} * power(random(), 1.3)) * interval '1 day' as started_at,
                 random() as r2, random() as r3
          from generate_series(1, ${executions}) g
        ) y
      ) x
      join scale_defs d on d.n = x.n`.execute(conn);
    say(`mirror-scale: ${executions} executions in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    const t1 = performance.now();
    const chunks = 10;
    for (let i = 0; i < chunks; i += 1) {
      // 3 to 7 steps per run, from a byte of its id; a STARTED and a COMPLETED row per step.
      await sql`
        insert into workflow_execution_logs (execution_id, step_path, step_id, step_type, event, attempt, message, output, error, timestamp)
        select e.id, 'step' || s, 'step' || s, (${sql.val(STEP_TYPES)}::text[])[1 + s % ${STEP_TYPES.length}], ev.event, 0,
               case when ev.event = 'STARTED' then 'step ' || s || ' started' end,
               case when ev.event = 'COMPLETED' then jsonb_build_object('ok', true, 'ms', s * 37) end,
               null,
               e.started_at + (s * 2 + ev.k) * interval '150 milliseconds'
        from workflow_executions e
        cross join lateral generate_series(1, 3 + get_byte(uuid_send(e.id), 0) % 5) s
        cross join (values ('STARTED', 0), ('COMPLETED', 1)) ev(event, k)
        where get_byte(uuid_send(e.id), 1) % ${chunks} = ${i}`.execute(conn);
      say(`mirror-scale: log rows ${i + 1}/${chunks} (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
    }

    // A failed run's failing step: a FAILED row with the error and its type.
    await sql`
      insert into workflow_execution_logs (execution_id, step_path, step_id, step_type, event, attempt, error, error_type, timestamp)
      select e.id, 'step' || (1 + e.n % 5), 'step' || (1 + e.n % 5), (${sql.val(STEP_TYPES)}::text[])[1 + (1 + e.n % 5) % ${STEP_TYPES.length}],
             'FAILED', 1, 'provider answered 503', (array['ProviderUnavailable', 'Timeout', 'ProviderRejected'])[1 + e.n % 3], e.finished_at
      from (select id, finished_at, get_byte(uuid_send(id), 2) as n from workflow_executions where status = 'FAILED') e`.execute(conn);
    const t4 = performance.now();
    await sql`
      insert into deliveries (delivery_key, channel, status, attempts, workflow_id, step_path, recipient, provider_message_id, created_at, updated_at)
      select e.workflow_id || '/step2', (array['email', 'slack', 'sms', 'teams', 'http'])[1 + get_byte(uuid_send(e.id), 3) % 5],
             case when e.status = 'FAILED' and get_byte(uuid_send(e.id), 4) % 2 = 0 then 'FAILED' else 'SENT' end,
             1 + get_byte(uuid_send(e.id), 5) % 2, e.workflow_id, 'step2', 'someone@example.test', 'msg-' || e.id,
             e.started_at + interval '300 milliseconds', e.started_at + interval '400 milliseconds'
      from workflow_executions e
      where get_byte(uuid_send(e.id), 11) < ${Math.round(256 * size.deliveryShare)}`.execute(conn);
    say(`mirror-scale: deliveries in ${((performance.now() - t4) / 1000).toFixed(0)} s`);

    const t2 = performance.now();
    for (const statement of [...restoreRuns, ...restoreLogs, ...restoreDeliveries]) await sql.raw(statement).execute(conn);
    say(`mirror-scale: indexes and constraints rebuilt in ${((performance.now() - t2) / 1000).toFixed(0)} s`);
  });
  const t3 = performance.now();
  await sql`vacuum (analyze) workflow_executions`.execute(db);
  await sql`vacuum (analyze) workflow_execution_logs`.execute(db);
  await sql`vacuum (analyze) deliveries`.execute(db);
  say(`mirror-scale: vacuum and analyze in ${((performance.now() - t3) / 1000).toFixed(0)} s`);
}

// --- the queries ---------------------------------------------------------------------------

interface Query {
  name: string;
  /** A report query (db/reports.ts), held to the report target. */
  report?: boolean;
  /** Runs the API's function once; `i` picks among parameter sets where a query has several. */
  run(db: Kysely<Database>, i: number): Promise<unknown>;
}

/** Picks the parameters from the generated data: the busiest and the quietest of each kind. */
async function queries(db: Kysely<Database>): Promise<Query[]> {
  const ranked = async (column: 'definition_id' | 'template_key' | 'category') => {
    const rows = await sql<{ value: string; runs: number }>`
      select ${sql.ref(column)}::text as value, count(*)::int as runs from workflow_executions
      where ${sql.ref(column)} is not null group by 1 order by 2 desc`.execute(db);
    return { busiest: rows.rows[0]!, quietest: rows.rows.at(-1)! };
  };
  const [defs, templates, categories] = await Promise.all([ranked('definition_id'), ranked('template_key'), ranked('category')]);
  const sample = await sql<{ id: string }>`select id from workflow_executions tablesample system (1) limit 50`.execute(db);
  const ids = sample.rows.map((r) => r.id);
  const dayAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
  const page = 50;
  const list = (filter: Omit<ExecutionFilter, 'limit'>) => (d: Kysely<Database>) => listExecutions(d, { ...filter, limit: page });
  // A cursor as a client following nextCursor would hold it, 30 days down the list.
  const deep = await sql<{ started_at: string; id: string }>`
    select to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at, id from workflow_executions
    where started_at < ${dayAgo(30)}::timestamptz order by started_at desc, id desc limit 1`.execute(db);
  const firstFailed = await listExecutions(db, { statuses: ['FAILED'], limit: page });
  const named = (name: string, run: (d: Kysely<Database>, i: number) => Promise<unknown>): Query => ({ name, run });
  const share = (runs: number, total: number) => `${((100 * runs) / total).toFixed(1)}%`;
  const total = (await sql<{ n: number }>`select count(*)::int as n from workflow_executions`.execute(db)).rows[0]!.n;
  return [
    named('newest first, no filter', list({})),
    named('status FAILED', list({ statuses: ['FAILED'] })),
    named('status RUNNING', list({ statuses: ['RUNNING'] })),
    named('status FAILED,TIMED_OUT,CANCELLED', list({ statuses: ['FAILED', 'TIMED_OUT', 'CANCELLED'] })),
    named(`definition, busiest (${share(defs.busiest.runs, total)})`, list({ definitionId: defs.busiest.value })),
    named(`definition, quietest (${share(defs.quietest.runs, total)})`, list({ definitionId: defs.quietest.value })),
    named('definition (quietest) + status FAILED', list({ definitionId: defs.quietest.value, statuses: ['FAILED'] })),
    named('definition (busiest) + status RUNNING', list({ definitionId: defs.busiest.value, statuses: ['RUNNING'] })),
    named(`template, quietest (${share(templates.quietest.runs, total)})`, list({ templateKey: templates.quietest.value })),
    named('template (quietest) + status FAILED', list({ templateKey: templates.quietest.value, statuses: ['FAILED'] })),
    named(`category, quietest (${share(categories.quietest.runs, total)})`, list({ category: categories.quietest.value })),
    named('category (quietest) + status FAILED', list({ category: categories.quietest.value, statuses: ['FAILED'] })),
    named('one day, 45 days ago', list({ from: dayAgo(46), to: dayAgo(45) })),
    named('one day, 45 days ago + status FAILED', list({ from: dayAgo(46), to: dayAgo(45), statuses: ['FAILED'] })),
    named('cursor 30 days down, no filter', list({ after: { startedAt: deep.rows[0]!.started_at, id: deep.rows[0]!.id } })),
    named('status FAILED, second page', list({ statuses: ['FAILED'], after: firstFailed.next })),
    named('execution by id (50 ids)', (d, i) => findExecution(d, ids[i % ids.length]!)),
    named('logs of an execution (50 ids)', (d, i) => listExecutionLogs(d, ids[i % ids.length]!)),
    ...reportQueries(defs.busiest.value, defs.quietest.value),
  ];
}

/** The report routes' functions over the last 30 or 90 days, for all definitions and for one. */
function reportQueries(busiest: string, quietest: string): Query[] {
  const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
  const last = (days: number) => ({ from: day(days - 1), to: day(0) });
  const report = (name: string, run: (d: Kysely<Database>) => Promise<unknown>): Query => ({ name, run, report: true });
  return [
    report('report summary, 30 days', (d) => summaryReport(d, last(30))),
    report('report summary, 90 days, busiest definition', (d) => summaryReport(d, { ...last(90), definitionId: busiest })),
    report('report daily, 90 days', (d) => dailyReport(d, last(90))),
    report('report daily, 30 days, quietest definition', (d) => dailyReport(d, { ...last(30), definitionId: quietest })),
    report('report steps, 30 days', (d) => stepsReport(d, last(30))),
    report('report steps, 90 days, busiest definition', (d) => stepsReport(d, { ...last(90), definitionId: busiest })),
    report('report deliveries, 90 days', (d) => deliveriesReport(d, last(90))),
  ];
}

interface Measured {
  samples: Map<string, number[]>;
  /** EXPLAIN (ANALYZE, BUFFERS) of each query's statements, as Postgres prints it. */
  plans: Map<string, string>;
  /** Indexes each query's plan reads, or the tables it scans whole. */
  access: Map<string, string>;
}

async function measure(db: Kysely<Database>, capture: ReturnType<typeof capturingDb>, list: Query[]): Promise<Measured> {
  const size = MIRROR_SCALE_SIZES;
  const samples = new Map<string, number[]>(list.map((q) => [q.name, []]));
  for (let i = 0; i < size.warmUp; i += 1) for (const q of list) await q.run(db, i);
  for (let i = 0; i < size.iterations; i += 1) {
    for (const q of rotate(list, i)) {
      const t0 = performance.now();
      await q.run(db, i);
      samples.get(q.name)!.push(performance.now() - t0);
    }
  }
  const plans = new Map<string, string>();
  const access = new Map<string, string>();
  for (const q of list) {
    capture.statements.length = 0;
    await q.run(capture.db, 0);
    const texts: string[] = [];
    for (const statement of capture.statements.splice(0)) {
      const explained = await capture.db.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain (analyze, buffers) ${statement.sql}`, [...statement.parameters]),
      );
      texts.push(`${statement.sql}\n\n${explained.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    }
    const plan = texts.join('\n\n');
    plans.set(q.name, plan);
    const used = [...new Set([...plan.matchAll(/(?:Index (?:Only )?Scan (?:Backward )?using|Bitmap Index Scan on) (\S+)/g)].map((m) => m[1]!))];
    const seq = [...new Set([...plan.matchAll(/Seq Scan on (\S+)/g)].map((m) => m[1]!))];
    access.set(q.name, [...used, ...seq.map((t) => `seq scan of ${t}`)].join(', ') || 'no table read');
  }
  return { samples, plans, access };
}

// --- the benchmark -------------------------------------------------------------------------

export const mirrorScale: Benchmark = {
  name: 'mirror-scale',
  summary: 'the queries behind GET /api/executions, an execution\'s detail and /api/reports on a generated mirror of a million runs and ten million log rows',
  workload: (options: RunOptions) => {
    const s = MIRROR_SCALE_SIZES;
    const runs = Math.round(s.executions * options.scale);
    return (
      `${runs.toLocaleString('en')} executions and about ${(runs * s.logsPerExecution).toLocaleString('en')} log rows generated in a database of its own (scale ${options.scale}); ` +
      `${s.warmUp} warm-up calls and ${s.iterations} timed calls of each query, the queries taking turns call by call`
    );
  },
  async run(env, say, options) {
    const size = MIRROR_SCALE_SIZES;
    const executions = Math.round(size.executions * options.scale);
    const url = env.databaseUrl(`wfa_bench_scale_${randomUUID().replace(/-/g, '').slice(0, 12)}`);
    await ensureDatabase(url);
    const db = createDb({ url, poolMax: 4 });
    const capture = capturingDb(url);
    try {
      const migrator = createMigrator(db);
      const known = (await migrator.getMigrations()).map((m) => m.name);
      const compared = COMPARED_MIGRATIONS.filter((name) => known.includes(name)).sort();
      const before = compared.length ? known.filter((name) => name < compared[0]!).at(-1) : undefined;
      if (before) {
        const result = await migrator.migrateTo(before);
        if (result.error) throw result.error;
      } else await migrateToLatest(db);

      const t0 = performance.now();
      say(`mirror-scale: generating ${executions} executions and about ${executions * size.logsPerExecution} log rows`);
      await generate(db, executions, say);
      const generatedIn = (performance.now() - t0) / 1000;
      const counts = (
        await sql<{ runs: number; logs: number; deliveries: number; bytes: string }>`
          select (select count(*)::int from workflow_executions) as runs, (select count(*)::int from workflow_execution_logs) as logs,
                 (select count(*)::int from deliveries) as deliveries,
                 pg_size_pretty(pg_database_size(current_database())) as bytes`.execute(db)
      ).rows[0]!;
      // The rollups: the first pass over everything, a pass with nothing new, and one after 2,000 runs ended on as many days.
      const full = await refreshReports(db);
      const idle = await refreshReports(db);
      await sql`
        update workflow_executions set outcome_at = now() where id in (
          select id from workflow_executions tablesample system (1) where finished_at is not null limit 2000)`.execute(db);
      const touched = await refreshReports(db);
      const rollupNote =
        `report rollups: first pass ${(full.ms / 1000).toFixed(1)} s (${full.days.runs} days of runs, ${full.days.steps} of steps, ${full.days.deliveries} of deliveries); ` +
        `a pass with nothing new ${idle.ms} ms; after 2,000 runs on ${touched.days.runs} days ended, ${(touched.ms / 1000).toFixed(1)} s`;
      say(`mirror-scale: ${rollupNote}`);
      const list = await queries(db);
      say(`mirror-scale: ${list.length} queries, ${size.iterations} calls each${compared.length ? ', before the compared migrations' : ''}`);
      const first = await measure(db, capture, list);
      let second: Measured | undefined;
      if (compared.length) {
        const t1 = performance.now();
        await migrateToLatest(db);
        await sql`analyze workflow_executions`.execute(db);
        say(`mirror-scale: ${compared.join(', ')} applied in ${((performance.now() - t1) / 1000).toFixed(0)} s; measuring again`);
        second = await measure(db, capture, list);
      }

      const label = (name: string, after: boolean) => (compared.length ? `${name} (${after ? 'after' : 'before'})` : name);
      const rows: Row[] = [];
      for (const q of list) {
        const rowOf = (m: Measured, after: boolean): Row => {
          const samples = m.samples.get(q.name)!;
          return {
            variant: label(q.name, after),
            samples,
            throughput: samples.length / (samples.reduce((a, b) => a + b, 0) / 1000),
            baseline: after ? label(q.name, false) : undefined,
          };
        };
        rows.push(rowOf(first, false));
        if (second) rows.push(rowOf(second, true));
      }
      const final = second ?? first;
      const table: Table = {
        title: `mirror-scale — ${mirrorScale.summary}`,
        latencyNote: 'one call of the API\'s function (db/executions.ts), from the bench process to Postgres and back, the rows decoded; warm cache',
        throughputUnit: 'calls/s',
        rows,
        notes: [
          `data: ${counts.runs.toLocaleString('en')} executions, ${counts.logs.toLocaleString('en')} log rows, ${counts.deliveries.toLocaleString('en')} deliveries (database ${counts.bytes}), generated, indexed and vacuumed in ${generatedIn.toFixed(0)} s` +
            (options.scale === 1 ? '' : ` — scale ${options.scale} of the full million`),
          'list queries ask for a page of 50 (the API default), newest first; "quietest" and "busiest" are the definition, template or category with the fewest or most runs',
          rollupNote,
          ...list.map((q) => `${q.name}: ${final.access.get(q.name)}${second ? ` (before: ${first.access.get(q.name)})` : ''}`),
        ],
      };
      const p95 = (q: Query) => quantile(final.samples.get(q.name)!, 0.95);
      const target = (queries: Query[], ms: number, goal: string) => {
        const slow = queries.filter((q) => p95(q) >= ms);
        const slowest = queries.reduce((a, b) => (p95(b) > p95(a) ? b : a));
        return {
          goal,
          met: slow.length === 0,
          measured: slow.length
            ? `over: ${slow.map((q) => `${q.name} ${p95(q).toFixed(1)} ms`).join('; ')}`
            : `slowest p95 ${p95(slowest).toFixed(1)} ms (${slowest.name})`,
        };
      };
      const data = `${counts.runs.toLocaleString('en')} executions and ${counts.logs.toLocaleString('en')} log rows`;
      const details = [
        `### Query plans${second ? ' (after)' : ''}`,
        '',
        'EXPLAIN (ANALYZE, BUFFERS) of the statement each function sent, run once after the timed calls.',
        '',
        ...list.flatMap((q) => [`<details><summary>${q.name}</summary>`, '', '```', final.plans.get(q.name)!, '```', '', '</details>', '']),
      ].join('\n');
      return {
        table,
        details,
        targets: [
          target(list.filter((q) => !q.report), size.p95TargetMs, `every list and detail query under ${size.p95TargetMs} ms at p95 on ${data}`),
          target(list.filter((q) => q.report), size.reportP95TargetMs, `every report query under ${size.reportP95TargetMs} ms at p95 on ${data}`),
        ],
      };
    } finally {
      await capture.close();
      await db.destroy();
      await dropDatabase(url).catch(() => undefined);
    }
  },
};
