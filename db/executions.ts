/**
 * The execution mirror: one row per run, one log row per step event. The
 * grouped writes of runs being started are execution-starts.ts.
 */
import { type Kysely, type QueryCreator, type RawBuilder, sql } from 'kysely';
import type { MirrorUpdate } from '../src/shared/run';
import { isTerminal, TERMINAL_STATUSES } from '../src/shared/status';
import type { Database, ExecutionLogRow, ExecutionRow, NewExecutionRow } from './schema';

export async function insertExecution(db: Kysely<Database>, row: NewExecutionRow): Promise<ExecutionRow> {
  return db.insertInto('workflow_executions').values(row).returningAll().executeTakeFirstOrThrow();
}

/** A settlement of a run: its final status, error and end. */
export interface Settlement {
  status: string;
  error?: string | null | undefined;
  finishedAt?: Date | undefined;
  runId?: string | undefined;
}

/** Whole milliseconds from `startedAt` to `finishedAt`, never negative. */
function durationMs(finishedAt: Date | string | null, startedAt: RawBuilder<unknown>) {
  return sql<number>`greatest(0, floor(extract(epoch from (${finishedAt}::timestamptz - ${startedAt})) * 1000))`;
}

/** The columns a settlement writes. */
function settledColumns(settlement: Settlement) {
  const finishedAt = settlement.finishedAt ?? new Date();
  return {
    status: settlement.status,
    error: settlement.error ?? null,
    finished_at: finishedAt,
    duration_ms: durationMs(finishedAt, sql.ref('started_at')),
    current_step: null,
    updated_at: sql<Date>`now()`,
    outcome_at: sql<Date>`now()`,
    ...(settlement.runId ? { run_id: settlement.runId } : {}),
  };
}

/** Settles a run that ended, or never started, outside the workflow's own reporting. */
export async function settleExecution(db: Kysely<Database>, id: string, settlement: Settlement): Promise<void> {
  await db
    .updateTable('workflow_executions')
    .set(settledColumns(settlement))
    .where('id', '=', id)
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .execute();
}

/**
 * Applies one batch from the workflow: log rows (idempotent on their natural
 * key, so a retried batch writes nothing twice), approval decisions, and the
 * run's status. One statement, the inserts as data-modifying `with` clauses:
 * it commits all or nothing like the transaction it replaces, in one round
 * trip instead of four (begin, inserts, update, commit).
 *
 * With the run's `row`, a missing execution row is made first, already
 * carrying this batch's status (the statement's update cannot see a row its
 * own `with` inserted); an existing row is left to the update.
 */
export async function applyMirrorUpdate(db: Kysely<Database>, update: MirrorUpdate): Promise<void> {
  // Each `with` returns a creator over more tables; the statement below only touches these four.
  let q: QueryCreator<Database> = db;
  const seed = update.row;
  if (seed) {
    const status = update.status ?? 'RUNNING';
    const terminal = isTerminal(status);
    const finishedAt = terminal ? (update.finishedAt ?? new Date().toISOString()) : null;
    const startedAt = sql`${seed.startedAt}::timestamptz`;
    q = q.with('seeded', (c) =>
      c
        .insertInto('workflow_executions')
        .columns([
          'id', 'definition_id', 'definition_version', 'workflow_id', 'run_id', 'status', 'trigger_type', 'trigger_data',
          'template_key', 'category', 'current_step', 'error', 'started_at', 'finished_at', 'duration_ms', 'outcome_at',
        ])
        .expression((eb) =>
          eb
            .selectFrom('workflow_definitions as d')
            .where('d.id', '=', seed.definitionId)
            .select([
              sql<string>`${update.executionId}::uuid`.as('id'),
              'd.id as definition_id',
              sql<number>`${seed.definitionVersion}::int`.as('definition_version'),
              sql<string>`${seed.workflowId}::text`.as('workflow_id'),
              sql<string | null>`${update.runId ?? null}::text`.as('run_id'),
              sql<string>`${status}::text`.as('status'),
              sql<string>`${seed.triggerType}::text`.as('trigger_type'),
              sql<string>`${JSON.stringify(seed.triggerData)}::jsonb`.as('trigger_data'),
              'd.template_key',
              'd.category',
              sql<string | null>`${terminal ? null : (update.currentStep ?? null)}::text`.as('current_step'),
              sql<string | null>`${terminal ? (update.error ?? null) : null}::text`.as('error'),
              startedAt.as('started_at'),
              sql<Date | null>`${finishedAt}::timestamptz`.as('finished_at'),
              durationMs(finishedAt, startedAt).as('duration_ms'),
              sql<Date | null>`${terminal ? sql`now()` : null}::timestamptz`.as('outcome_at'),
            ]),
        )
        .onConflict((oc) => oc.doNothing()),
    ) as unknown as QueryCreator<Database>;
  }
  const decisions = update.decisions ?? [];
  if (update.events.length > 0) {
    q = q.with('logged', (c) =>
      c
        .insertInto('workflow_execution_logs')
        .values(
          update.events.map((e) => ({
            execution_id: update.executionId,
            step_path: e.stepPath,
            step_id: e.stepId,
            step_type: e.stepType,
            event: e.event,
            attempt: e.attempt,
            message: e.message ?? null,
            output: e.output === undefined ? null : JSON.stringify(e.output),
            error: e.error ?? null,
            error_type: e.errorType ?? null,
            timestamp: e.at,
          })),
        )
        .onConflict((oc) => oc.columns(['execution_id', 'step_path', 'event', 'attempt']).doNothing()),
    ) as unknown as QueryCreator<Database>;
  }
  if (decisions.length > 0) {
    q = q.with('decided', (c) =>
      c
        .insertInto('approval_decisions')
        .values(
          decisions.map((d) => ({
            execution_id: update.executionId,
            step_path: d.stepPath,
            sequence: d.sequence,
            decided_by: d.decidedBy,
            via_key: d.viaKey ?? null,
            decision: d.decision,
            comment: d.comment ?? null,
            automatic: d.automatic,
            decided_at: d.at,
          })),
        )
        .onConflict((oc) => oc.columns(['execution_id', 'step_path', 'sequence']).doNothing()),
    ) as unknown as QueryCreator<Database>;
  }
  if (update.status) {
    const columns = {
      ...(isTerminal(update.status)
        ? settledColumns({
            status: update.status,
            error: update.error,
            finishedAt: update.finishedAt ? new Date(update.finishedAt) : undefined,
            runId: update.runId,
          })
        : {
            status: update.status,
            current_step: update.currentStep ?? null,
            ...(update.runId ? { run_id: update.runId } : {}),
            updated_at: sql<Date>`now()`,
          }),
      // The run moved onto another definition version: the row follows.
      ...(update.definitionVersion !== undefined ? { definition_version: update.definitionVersion } : {}),
    };
    await q
      .updateTable('workflow_executions')
      .set(columns)
      .where('id', '=', update.executionId)
      .where('status', 'not in', [...TERMINAL_STATUSES])
      .execute();
  } else if (update.events.length > 0 || decisions.length > 0 || seed) {
    // A data-modifying `with` runs whether or not the statement reads it.
    await q.selectNoFrom(sql<number>`1`.as('written')).execute();
  }
}

export async function findExecution(db: Kysely<Database>, idOrWorkflowId: string): Promise<ExecutionRow | undefined> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrWorkflowId);
  return db
    .selectFrom('workflow_executions')
    .selectAll()
    .where(isUuid ? 'id' : 'workflow_id', '=', idOrWorkflowId)
    .executeTakeFirst();
}

export async function listExecutionLogs(db: Kysely<Database>, executionId: string): Promise<ExecutionLogRow[]> {
  return db
    .selectFrom('workflow_execution_logs')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('timestamp')
    .orderBy('id')
    .execute();
}

/** Runs the mirror still thinks are open, last touched before `before`: the reconciler's work list. */
export async function listUnsettledExecutions(
  db: Kysely<Database>,
  before: Date,
  { runningGraceMs = 0, limit = 100 }: { runningGraceMs?: number; limit?: number } = {},
): Promise<Pick<ExecutionRow, 'id' | 'workflow_id' | 'run_id' | 'status' | 'started_at'>[]> {
  return (
    db
      .selectFrom('workflow_executions')
      .select(['id', 'workflow_id', 'run_id', 'status', 'started_at'])
      // The open statuses as literals, as idx_execution_unsettled's predicate has them, so the planner uses it.
      .where(sql<boolean>`status in ('PENDING', 'RUNNING')`)
      .where('updated_at', '<', before)
      // A running row waits a quarter of its run's age since it was last written or looked at,
      // between runningGraceMs and 2 minutes: a run days into a wait is not asked about every pass.
      .where((eb) =>
        eb.or([
          eb('status', '=', 'PENDING'),
          sql<boolean>`updated_at < now() - least(greatest((now() - started_at) / 4, ${runningGraceMs} * interval '1 millisecond'), interval '2 minutes')`,
        ]),
      )
      .orderBy('updated_at')
      .limit(limit)
      .execute()
  );
}

/** The rows still open (PENDING or RUNNING) of these workflow ids, whenever they were last written. */
export async function listOpenExecutionsByWorkflowId(
  db: Kysely<Database>,
  workflowIds: readonly string[],
): Promise<Pick<ExecutionRow, 'id' | 'workflow_id' | 'run_id' | 'status' | 'started_at' | 'updated_at'>[]> {
  if (workflowIds.length === 0) return [];
  return db
    .selectFrom('workflow_executions')
    .select(['id', 'workflow_id', 'run_id', 'status', 'started_at', 'updated_at'])
    .where('workflow_id', 'in', workflowIds)
    .where(sql<boolean>`status in ('PENDING', 'RUNNING')`)
    .execute();
}

/** Marks a row as looked at, so the reconciler does not revisit it at once. */
export async function touchExecution(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('workflow_executions').set({ updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** The runs of a definition the mirror still thinks are open (PENDING or RUNNING), oldest first. */
export async function listOpenExecutionsOf(
  db: Kysely<Database>,
  definitionId: string,
): Promise<Pick<ExecutionRow, 'id' | 'workflow_id' | 'run_id' | 'status'>[]> {
  return db
    .selectFrom('workflow_executions')
    .select(['id', 'workflow_id', 'run_id', 'status'])
    .where('definition_id', '=', definitionId)
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .orderBy('started_at')
    .execute();
}

/**
 * The runs of one version of a definition that are PENDING or RUNNING, oldest
 * first, at most `limit` (ask for one more to learn whether there are more).
 */
export async function listOpenExecutionsOfVersion(
  db: Kysely<Database>,
  definitionId: string,
  version: number,
  limit: number,
): Promise<Pick<ExecutionRow, 'id' | 'workflow_id'>[]> {
  return db
    .selectFrom('workflow_executions')
    .select(['id', 'workflow_id'])
    .where('definition_id', '=', definitionId)
    .where('definition_version', '=', version)
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .orderBy('started_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function findExecutionByWorkflowId(db: Kysely<Database>, workflowId: string): Promise<ExecutionRow | undefined> {
  return db.selectFrom('workflow_executions').selectAll().where('workflow_id', '=', workflowId).executeTakeFirst();
}

/**
 * Inserts the row unless one with the same workflow id exists (the column is
 * unique); either way returns the row that is there, and whether it is the one
 * just inserted. Concurrent callers with the same workflow id all get the
 * same row, and exactly one of them gets `created: true`.
 */
export async function insertExecutionOnce(
  db: Kysely<Database>,
  row: NewExecutionRow,
): Promise<{ row: ExecutionRow; created: boolean }> {
  const inserted = await db
    .insertInto('workflow_executions')
    .values(row)
    .onConflict((oc) => oc.column('workflow_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { row: inserted, created: true };
  const existing = await findExecutionByWorkflowId(db, row.workflow_id);
  if (!existing) throw new Error(`execution with workflow id ${row.workflow_id} vanished while being inserted`);
  return { row: existing, created: false };
}

/**
 * Reopens a row whose run never reached Temporal (FAILED without a run id), so
 * a retried idempotent start can start it under the same ids. Answers the row
 * when this call reopened it; undefined when it was not in that state.
 */
export async function reopenUnstartedExecution(db: Kysely<Database>, id: string): Promise<ExecutionRow | undefined> {
  return db
    .updateTable('workflow_executions')
    .set({ status: 'PENDING', error: null, finished_at: null, duration_ms: null, current_step: null, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('status', '=', 'FAILED')
    .where('run_id', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Reopens a closed row before its Temporal run is reset, so the new run's
 * mirror writes (which never touch a closed row) land however soon it ends;
 * {@link attachResetRun} then points the row at the new run.
 */
export async function reopenForReset(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('workflow_executions')
    .set({ status: 'RUNNING', error: null, finished_at: null, duration_ms: null, current_step: null, updated_at: sql<Date>`now()`, outcome_at: sql<Date>`now()` })
    .where('id', '=', id)
    .execute();
}

/** Points a reset row at its new run, unless the run's own mirror write already did. */
export async function attachResetRun(db: Kysely<Database>, id: string, previousRunId: string, runId: string): Promise<void> {
  await db.updateTable('workflow_executions').set({ run_id: runId, updated_at: sql<Date>`now()` }).where('id', '=', id).where('run_id', '=', previousRunId).execute();
}

/** Puts back a row reopened for a reset that Temporal refused: as it was, while nothing else changed it. */
export async function restoreAfterRefusedReset(db: Kysely<Database>, row: ExecutionRow): Promise<void> {
  await db
    .updateTable('workflow_executions')
    .set({ status: row.status, error: row.error, finished_at: row.finished_at, duration_ms: row.duration_ms, updated_at: sql<Date>`now()`, outcome_at: sql<Date>`now()` })
    .where('id', '=', row.id)
    .where('run_id', '=', row.run_id)
    .where('status', '=', 'RUNNING')
    .execute();
}

/** Where a page of {@link listExecutions} resumes: the last row it returned. */
export interface ExecutionCursor {
  /** The row's `started_at` to the microsecond, in UTC (`2026-11-25T10:00:00.123456Z`). */
  startedAt: string;
  id: string;
}

export interface ExecutionFilter {
  definitionId?: string | undefined;
  /** One version of the definition (with `definitionId`). */
  definitionVersion?: number | undefined;
  /** Runs with a FAILED step event of this step id (narrow it with a definition: each candidate row is checked in the log). */
  failedStep?: string | undefined;
  /** Any of these statuses. */
  statuses?: readonly string[] | undefined;
  templateKey?: string | undefined;
  category?: string | undefined;
  /** Started at or after this ISO time. */
  from?: string | undefined;
  /** Started before this ISO time. */
  to?: string | undefined;
  after?: ExecutionCursor | undefined;
  limit: number;
}

export type ExecutionListRow = ExecutionRow & { cursor_started_at: string };

/**
 * Newest first (`started_at desc, id desc`), keyset-paginated, `limit + 1`
 * rows so the caller can tell whether another page follows.
 *
 * Written for the indexes: every predicate on `started_at` compares the bare
 * column, so `(status, started_at)`, `(definition_id, started_at)` and
 * `(started_at)` can serve both the filter and the order with no sort of the
 * whole table. Several statuses become one branch per status, each read from
 * `(status, started_at)` in order and cut at the limit, merged at the end;
 * `status in (…)` could not return rows in `started_at` order from that index.
 */
export function executionListQuery(db: Kysely<Database>, filter: ExecutionFilter) {
  const take = filter.limit + 1;
  const branch = (status: string | undefined) => {
    let q = db
      .selectFrom('workflow_executions')
      .selectAll()
      // Postgres keeps microseconds; a JS Date would drop them and break the cursor.
      .select(sql<string>`to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursor_started_at'));
    if (status !== undefined) q = q.where('status', '=', status);
    if (filter.definitionId !== undefined) q = q.where('definition_id', '=', filter.definitionId);
    if (filter.definitionVersion !== undefined) q = q.where('definition_version', '=', filter.definitionVersion);
    const failedStep = filter.failedStep;
    if (failedStep !== undefined) {
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('workflow_execution_logs as l')
            .select(sql<number>`1`.as('one'))
            .whereRef('l.execution_id', '=', 'workflow_executions.id')
            .where('l.step_id', '=', failedStep)
            .where('l.event', '=', 'FAILED'),
        ),
      );
    }
    if (filter.templateKey !== undefined) q = q.where('template_key', '=', filter.templateKey);
    if (filter.category !== undefined) q = q.where('category', '=', filter.category);
    if (filter.from !== undefined) q = q.where('started_at', '>=', sql<Date>`${filter.from}::timestamptz`);
    if (filter.to !== undefined) q = q.where('started_at', '<', sql<Date>`${filter.to}::timestamptz`);
    const after = filter.after;
    if (after !== undefined) {
      const at = sql<Date>`${after.startedAt}::timestamptz`;
      // (started_at, id) < (at, id), spelled so the index can bound started_at.
      q = q.where('started_at', '<=', at).where((eb) => eb.or([eb('started_at', '<', at), eb('id', '<', after.id)]));
    }
    return q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(take);
  };

  const statuses = [...new Set(filter.statuses ?? [])];
  if (statuses.length <= 1) return branch(statuses[0]);
  const [first, ...rest] = statuses.map((status) => db.selectFrom(branch(status).as('b')).selectAll());
  const union = rest.reduce((acc, q) => acc.unionAll(q), first!);
  return db.selectFrom(union.as('u')).selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc').limit(take);
}

export async function listExecutions(
  db: Kysely<Database>,
  filter: ExecutionFilter,
): Promise<{ rows: ExecutionListRow[]; next: ExecutionCursor | undefined }> {
  const found = (await executionListQuery(db, filter).execute()) as ExecutionListRow[];
  const rows = found.slice(0, filter.limit);
  const last = rows[rows.length - 1];
  const next = found.length > filter.limit && last ? { startedAt: last.cursor_started_at, id: last.id } : undefined;
  return { rows, next };
}
