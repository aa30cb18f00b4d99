/**
 * Recovery's tables: the audit trail, bulk batches and their items, the
 * claims that keep two batches off one run, and the mirror queries that
 * choose a batch's runs. Queries only; src/executions/ decides what to do.
 */
import { type Kysely, sql, type SelectQueryBuilder } from 'kysely';
import type { BatchItemOutcome, Database, NewRecoveryBatchRow, RecoveryBatchItemRow, RecoveryBatchRow } from './schema';

// --- the audit trail -------------------------------------------------------------------

export interface AuditEntry {
  actor: { name: string; keyId?: string | undefined };
  action:
    | 'execution.reset'
    | 'execution.replay'
    | 'batch.reset'
    | 'batch.replay'
    | 'batch.cancel'
    | 'definition.migrate'
    | 'connection.create'
    | 'connection.update'
    | 'connection.delete';
  target: string;
  reason?: string | undefined;
  filter?: unknown;
  outcome: Record<string, unknown>;
}

export async function recordAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor.name,
      via_key: entry.actor.keyId ?? null,
      action: entry.action,
      target: entry.target,
      reason: entry.reason ?? null,
      filter: entry.filter === undefined ? null : JSON.stringify(entry.filter),
      outcome: JSON.stringify(entry.outcome),
    })
    .execute();
}

// --- which runs a bulk action takes ----------------------------------------------------

/** Closed runs by what their mirror row and last failed step say. */
export interface RunFilter {
  status: readonly string[];
  definitionId?: string | undefined;
  version?: number | undefined;
  /** Started at or after. */
  from?: Date | undefined;
  /** Started before. */
  to?: Date | undefined;
  /** A part of the run's error message, case-insensitive. */
  error?: string | undefined;
  failedStep?: string | undefined;
  errorType?: string | undefined;
}

export interface MatchedRun {
  executionId: string;
  workflowId: string;
  runId: string | null;
  definitionKey: string;
  definitionVersion: number;
  status: string;
  error: string | null;
  failedStep: string | null;
  errorType: string | null;
  startedAt: Date;
}

export interface MatchedGroup {
  definitionKey: string;
  definitionVersion: number;
  failedStep: string | null;
  errorType: string | null;
  count: number;
}

/** The filter as SQL over the mirror, each run with its last failed step (the lateral join). */
function matching(db: Kysely<Database>, filter: RunFilter) {
  let q = db
    .selectFrom('workflow_executions as e')
    .innerJoin('workflow_definitions as d', 'd.id', 'e.definition_id')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('workflow_execution_logs as l')
          .select(['l.step_id', 'l.error_type'])
          .whereRef('l.execution_id', '=', 'e.id')
          .where('l.event', '=', 'FAILED')
          .orderBy('l.timestamp', 'desc')
          .orderBy('l.id', 'desc')
          .limit(1)
          .as('f'),
      (join) => join.onTrue(),
    )
    .where('e.status', 'in', filter.status);
  if (filter.definitionId !== undefined) q = q.where('e.definition_id', '=', filter.definitionId);
  if (filter.version !== undefined) q = q.where('e.definition_version', '=', filter.version);
  if (filter.from !== undefined) q = q.where('e.started_at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('e.started_at', '<', filter.to);
  if (filter.error !== undefined) q = q.where('e.error', 'ilike', `%${filter.error.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (filter.failedStep !== undefined) q = q.where('f.step_id', '=', filter.failedStep);
  if (filter.errorType !== undefined) q = q.where('f.error_type', '=', filter.errorType);
  return q;
}

/** How many runs match, grouped by version × failed step × error type, and the newest `limit` of them. */
export async function previewMatches(
  db: Kysely<Database>,
  filter: RunFilter,
  limit: number,
): Promise<{ matched: number; groups: MatchedGroup[]; runs: MatchedRun[] }> {
  const base = matching(db, filter);
  const [counted, groups, runs] = await Promise.all([
    base.select((eb) => eb.fn.countAll<number>().as('matched')).executeTakeFirst(),
    base
      .select(['d.key as definitionKey', 'e.definition_version as definitionVersion', 'f.step_id as failedStep', 'f.error_type as errorType'])
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .groupBy(['d.key', 'e.definition_version', 'f.step_id', 'f.error_type'])
      .orderBy('count', 'desc')
      .execute(),
    base
      .select([
        'e.id as executionId',
        'e.workflow_id as workflowId',
        'e.run_id as runId',
        'd.key as definitionKey',
        'e.definition_version as definitionVersion',
        'e.status',
        'e.error',
        'f.step_id as failedStep',
        'f.error_type as errorType',
        'e.started_at as startedAt',
      ])
      .orderBy('e.started_at', 'desc')
      .orderBy('e.id', 'desc')
      .limit(limit)
      .execute(),
  ]);
  return { matched: Number(counted?.matched ?? 0), groups: groups.map((g) => ({ ...g, count: Number(g.count) })), runs };
}

/** The batch that claimed each of these executions' runs, by `<execution id>/<run id>`. */
export async function claimsOf(db: Kysely<Database>, executionIds: string[]): Promise<Map<string, string>> {
  if (executionIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('recovery_claims')
    .select(['execution_id', 'run_id', 'batch_id'])
    .where('execution_id', 'in', executionIds)
    .execute();
  return new Map(rows.map((r) => [`${r.execution_id}/${r.run_id}`, r.batch_id]));
}

export interface SentDelivery {
  stepPath: string;
  channel: string;
  recipient: string | null;
}

/** The deliveries the ledger shows made for each of these runs, by workflow id, in the order they were made. */
export async function sentDeliveriesOf(db: Kysely<Database>, workflowIds: string[]): Promise<Map<string, SentDelivery[]>> {
  const byRun = new Map<string, SentDelivery[]>();
  if (workflowIds.length === 0) return byRun;
  const rows = await db
    .selectFrom('deliveries')
    .select(['workflow_id', 'step_path as stepPath', 'channel', 'recipient'])
    .where('workflow_id', 'in', workflowIds)
    .where('status', '=', 'SENT')
    .orderBy('created_at')
    .execute();
  for (const { workflow_id, ...delivery } of rows) byRun.set(workflow_id, [...(byRun.get(workflow_id) ?? []), delivery]);
  return byRun;
}

// --- batches ----------------------------------------------------------------------------

class NothingMatched extends Error {}

/**
 * Writes a batch and, as its items, the runs the filter matches now (those
 * that started on Temporal), in order of start. Answers how many; with none,
 * nothing is written and the answer is 0.
 */
export async function insertBatchOfMatches(
  db: Kysely<Database>,
  batch: Omit<NewRecoveryBatchRow, 'total'>,
  filter: RunFilter,
): Promise<number> {
  try {
    return await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('recovery_batches')
        .values({ ...batch, total: 0 })
        .execute();
      const runs = matching(trx, filter)
        .where('e.run_id', 'is not', null)
        .select([
          sql<string>`${batch.id}::uuid`.as('batch_id'),
          'e.id as execution_id',
          sql<string>`e.run_id`.as('run_id'),
          sql<number>`row_number() over (order by e.started_at, e.id)`.as('position'),
        ]) as unknown as SelectQueryBuilder<Database, 'workflow_executions', { batch_id: string; execution_id: string; run_id: string; position: number }>;
      const inserted = await trx
        .insertInto('recovery_batch_items')
        .columns(['batch_id', 'execution_id', 'run_id', 'position'])
        .expression(runs)
        .executeTakeFirst();
      const count = Number(inserted.numInsertedOrUpdatedRows ?? 0);
      // Rolls the batch back: a batch of nothing is not kept.
      if (count === 0) throw new NothingMatched();
      await trx.updateTable('recovery_batches').set({ total: count }).where('id', '=', batch.id).execute();
      return count;
    });
  } catch (err) {
    if (err instanceof NothingMatched) return 0;
    throw err;
  }
}

export async function findBatch(db: Kysely<Database>, batchId: string): Promise<RecoveryBatchRow | undefined> {
  return db.selectFrom('recovery_batches').selectAll().where('id', '=', batchId).executeTakeFirst();
}

export async function listBatches(db: Kysely<Database>, limit: number): Promise<RecoveryBatchRow[]> {
  return db.selectFrom('recovery_batches').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** How many of the batch's items have each outcome, and the first 500 failed or skipped ones with the reason. */
export async function batchItemsSummary(
  db: Kysely<Database>,
  batchId: string,
): Promise<{ counts: Map<BatchItemOutcome, number>; problems: { executionId: string; outcome: BatchItemOutcome; detail: string | null }[] }> {
  const [counts, problems] = await Promise.all([
    db
      .selectFrom('recovery_batch_items')
      .select(['outcome', (eb) => eb.fn.countAll<number>().as('n')])
      .where('batch_id', '=', batchId)
      .groupBy('outcome')
      .execute(),
    db
      .selectFrom('recovery_batch_items')
      .select(['execution_id as executionId', 'outcome', 'detail'])
      .where('batch_id', '=', batchId)
      .where('outcome', 'in', ['FAILED', 'SKIPPED'])
      .orderBy('position')
      .limit(500)
      .execute(),
  ]);
  return { counts: new Map(counts.map((c) => [c.outcome, Number(c.n)])), problems };
}

/**
 * The item `worker` is working on (an earlier attempt of it took the item and
 * died), or else the batch's next pending one, taken for `worker`; undefined
 * when none is left. Two workers never take the same item.
 */
export async function takeBatchItem(db: Kysely<Database>, batchId: string, worker: string): Promise<RecoveryBatchItemRow | undefined> {
  const mine = await db
    .selectFrom('recovery_batch_items')
    .selectAll()
    .where('batch_id', '=', batchId)
    .where('outcome', '=', 'WORKING')
    .where('claimed_by', '=', worker)
    .executeTakeFirst();
  if (mine) return mine;
  return db
    .updateTable('recovery_batch_items')
    .set({ outcome: 'WORKING', claimed_by: worker, updated_at: sql<Date>`now()` })
    .where('batch_id', '=', batchId)
    .where('execution_id', '=', (eb) =>
      eb
        .selectFrom('recovery_batch_items')
        .select('execution_id')
        .where('batch_id', '=', batchId)
        .where('outcome', '=', 'PENDING')
        .orderBy('position')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .where('outcome', '=', 'PENDING')
    .returningAll()
    .executeTakeFirst();
}

export interface ItemOutcome {
  outcome: 'DONE' | 'FAILED' | 'SKIPPED';
  detail?: string | undefined;
  result?: Record<string, unknown> | undefined;
}

export async function settleBatchItem(db: Kysely<Database>, batchId: string, executionId: string, outcome: ItemOutcome): Promise<void> {
  await db
    .updateTable('recovery_batch_items')
    .set({
      outcome: outcome.outcome,
      detail: outcome.detail ?? null,
      result: outcome.result ? JSON.stringify(outcome.result) : null,
      updated_at: sql<Date>`now()`,
    })
    .where('batch_id', '=', batchId)
    .where('execution_id', '=', executionId)
    .execute();
}

/** Notes on the item that its reset is about to be asked for, so a retry knows a newer run may be its own. */
export async function markResetAsked(db: Kysely<Database>, batchId: string, executionId: string): Promise<void> {
  await db
    .updateTable('recovery_batch_items')
    .set({ result: JSON.stringify({ resetAsked: true }) })
    .where('batch_id', '=', batchId)
    .where('execution_id', '=', executionId)
    .execute();
}

/** Claims a run for a batch unless one already has; answers the batch that holds the claim. */
export async function claimRun(db: Kysely<Database>, executionId: string, runId: string, batchId: string): Promise<string | undefined> {
  await db.insertInto('recovery_claims').values({ execution_id: executionId, run_id: runId, batch_id: batchId }).onConflict((oc) => oc.doNothing()).execute();
  const claim = await db.selectFrom('recovery_claims').select('batch_id').where('execution_id', '=', executionId).where('run_id', '=', runId).executeTakeFirst();
  return claim?.batch_id;
}

/** Ends a batch: COMPLETED, or CANCELLED with the runs not begun marked SKIPPED. Idempotent. */
export async function finishBatch(db: Kysely<Database>, batchId: string, status: 'COMPLETED' | 'CANCELLED'): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (status === 'CANCELLED') {
      await trx
        .updateTable('recovery_batch_items')
        .set({ outcome: 'SKIPPED', detail: 'the batch was cancelled before this run', updated_at: sql<Date>`now()` })
        .where('batch_id', '=', batchId)
        .where('outcome', '=', 'PENDING')
        .execute();
    }
    await trx
      .updateTable('recovery_batches')
      .set({ status, finished_at: sql<Date>`now()` })
      .where('id', '=', batchId)
      .where('status', '=', 'RUNNING')
      .execute();
  });
}
