/**
 * Resetting and replaying closed runs, one at a time or in bulk, and the
 * audit trail of both.
 *
 * A reset redoes a failed run's failed step (or the whole run) in a new run
 * of the same workflow and execution: steps before it do not run again, and
 * the delivery ledger keeps any message already sent from going out twice. A
 * replay starts a new execution of the version the original pinned, with its
 * trigger data: everything runs, and is sent, again.
 *
 * A bulk action takes a filter over the mirror. Its dry run answers what
 * matches, grouped by definition version × failed step × error type, and
 * what would happen to each run; a real one creates a batch (its runs fixed
 * at that moment, in `recovery_batch_items`) that a Temporal workflow of its
 * own works through (workflows/bulk-recovery.ts), so it survives restarts of
 * workers and gateways. Each run is claimed in `recovery_claims` before it is
 * acted on, so two batches never act on the same failed run, and each step is
 * safe to retry: a reset checks which run is latest first, a replay's new
 * execution has an id made of the batch and the original's.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { type Kysely, sql, type SelectQueryBuilder } from 'kysely';
import { z } from 'zod';
import { findDefinition } from '../../db/definitions';
import { attachResetRun, findExecution, reopenForReset, restoreAfterRefusedReset } from '../../db/executions';
import type { BatchItemOutcome, Database, ExecutionRow, RecoveryAction, RecoveryBatchItemRow, RecoveryBatchRow } from '../../db/schema';
import type { Config } from '../config';
import { isTerminal } from '../shared/status';
import { RESET_TARGETS, ResetRefused, type ResetTarget, findResetPoint, resetRun } from './reset';
import { replayExecution, StartError } from './start';

export interface RecoveryDeps {
  db: Kysely<Database>;
  client: Client;
  config: Config;
}

/** Who acts, as the records name them: an API key's (or token subject's) name, and the key's id. */
export interface Actor {
  name: string;
  keyId?: string | undefined;
}

/** A reset or replay that cannot be done, with a code for the API's problem answer. */
export class RecoveryRefused extends Error {
  constructor(
    readonly code: 'not_found' | 'execution_open' | 'execution_succeeded' | 'execution_closed' | 'definition_deleted' | 'reset_refused' | string,
    message: string,
  ) {
    super(message);
    this.name = 'RecoveryRefused';
  }
}

// --- the audit trail -------------------------------------------------------------------

export interface AuditEntry {
  actor: Actor;
  action: 'execution.reset' | 'execution.replay' | 'batch.reset' | 'batch.replay' | 'batch.cancel' | 'definition.migrate';
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

// --- one run ---------------------------------------------------------------------------

function closed(row: ExecutionRow | undefined, id: string): ExecutionRow {
  if (!row) throw new RecoveryRefused('not_found', `no execution has id "${id}"`);
  if (!isTerminal(row.status)) throw new RecoveryRefused('execution_open', `execution ${row.id} is still ${row.status}; cancel or terminate it first`);
  return row;
}

export interface ResetDone {
  executionId: string;
  workflowId: string;
  runId: string;
  previousRunId: string;
  resetTo: ResetTarget;
  redoes?: string | undefined;
}

/**
 * Resets a closed, unsuccessful execution's run to `to`. The mirror row is
 * reopened first, so the new run's writes land however soon it ends, then
 * pointed at the new run; put back as it was if Temporal refuses. `resuming`:
 * the row was reopened by an earlier attempt of the same batch step.
 */
export async function resetExecution(
  deps: RecoveryDeps,
  row: ExecutionRow,
  to: ResetTarget,
  reason: string,
  actor: Actor,
  { resuming = false }: { resuming?: boolean } = {},
): Promise<ResetDone> {
  if (!resuming) closed(row, row.id);
  if (row.status === 'SUCCESS') throw new RecoveryRefused('execution_succeeded', `execution ${row.id} succeeded: nothing to reset; replay it to run it again`);
  if (!row.run_id) throw new RecoveryRefused('execution_closed', `execution ${row.id} never started on Temporal; replay it instead`);
  await reopenForReset(deps.db, row.id);
  let reset;
  try {
    reset = await resetRun(deps.client, deps.config.temporal.namespace, { workflowId: row.workflow_id, runId: row.run_id }, to, `${reason} (by ${actor.name})`);
  } catch (err) {
    if (isTerminal(row.status)) await restoreAfterRefusedReset(deps.db, row);
    if (err instanceof ResetRefused) throw new RecoveryRefused('reset_refused', err.message);
    throw err;
  }
  await attachResetRun(deps.db, row.id, row.run_id, reset.runId);
  return {
    executionId: row.id,
    workflowId: row.workflow_id,
    runId: reset.runId,
    previousRunId: row.run_id,
    resetTo: to,
    ...(reset.failed ? { redoes: reset.failed } : {}),
  };
}

export interface ReplayDone {
  executionId: string;
  workflowId: string;
  runId: string;
  definitionVersion: number;
  replayOf: string;
}

/** Starts a new execution of a closed one's pinned version with its trigger data. */
export async function replayClosedExecution(deps: RecoveryDeps, row: ExecutionRow, executionId?: string): Promise<ReplayDone> {
  closed(row, row.id);
  const definition = await findDefinition(deps.db, row.definition_id);
  if (!definition) throw new RecoveryRefused('definition_deleted', `the definition of execution ${row.id} has been deleted`);
  try {
    const started = await replayExecution(deps, definition, row, executionId);
    return { ...started, replayOf: row.id };
  } catch (err) {
    if (err instanceof StartError) throw new RecoveryRefused(err.code, err.message);
    throw err;
  }
}

// --- which runs a bulk action takes ----------------------------------------------------

const BULK_STATUSES = ['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED', 'SUCCESS'] as const;
const isoTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with a zone, e.g. 2026-11-25T09:00:00Z' });

const filterFields = z
  .object({
    /** A definition's id or key. */
    definition: z.string().min(1).max(200).optional(),
    version: z.number().int().positive().optional(),
    /** The id of the step that failed. */
    failedStep: z.string().min(1).max(200).optional(),
    /** The failed step's failure type, e.g. `ProviderUnavailable`, `Timeout`. */
    errorType: z.string().min(1).max(200).optional(),
    /** A part of the run's error message, case-insensitive. */
    error: z.string().min(1).max(500).optional(),
    /** @default ['FAILED'] */
    status: z.array(z.enum(BULK_STATUSES)).min(1).default(['FAILED']),
    /** Runs started at or after. */
    from: isoTime.optional(),
    /** Runs started before. */
    to: isoTime.optional(),
  })
  .strict();

/**
 * The runs a bulk action takes: closed ones, by what their mirror row and
 * failed step say, narrowed by a definition or a start time at least (a bulk
 * action does not take every run there is).
 */
export const bulkFilter = z.union(
  [filterFields.extend({ definition: z.string().min(1).max(200) }), filterFields.extend({ from: isoTime })],
  { error: 'must name a definition or a start time (from), with fields of the documented types only' },
);
export type BulkFilter = z.infer<typeof bulkFilter>;

export const bulkRequest = z
  .object({
    filter: bulkFilter,
    /** Answer what would happen, change nothing. */
    dryRun: z.boolean().default(false),
    reason: z.string().trim().min(1, 'say why these runs are recovered').max(500),
    /** Resets only: `failed-step` (the default) or `start`. */
    to: z.enum(RESET_TARGETS).default('failed-step'),
    /** How many runs the batch works on at once. @default 5 */
    concurrency: z.number().int().min(1).max(50).default(5),
    /** How many matching runs a dry run describes one by one. @default 20 */
    limit: z.number().int().min(1).max(100).default(20),
  })
  .strict();
export type BulkRequest = z.infer<typeof bulkRequest>;

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

/** The filter as SQL over the mirror, each run with its last failed step (the lateral join). */
function matching(db: Kysely<Database>, filter: BulkFilter, definitionId: string | undefined) {
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
  if (definitionId !== undefined) q = q.where('e.definition_id', '=', definitionId);
  if (filter.version !== undefined) q = q.where('e.definition_version', '=', filter.version);
  if (filter.from !== undefined) q = q.where('e.started_at', '>=', new Date(filter.from));
  if (filter.to !== undefined) q = q.where('e.started_at', '<', new Date(filter.to));
  if (filter.error !== undefined) q = q.where('e.error', 'ilike', `%${filter.error.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (filter.failedStep !== undefined) q = q.where('f.step_id', '=', filter.failedStep);
  if (filter.errorType !== undefined) q = q.where('f.error_type', '=', filter.errorType);
  return q;
}

type Matching = ReturnType<typeof matching>;

function selectRuns(q: Matching) {
  return q.select([
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
  ]);
}

/** The definition the filter names, by id or key (deleted ones too: their runs can still be replayed or reset). */
async function filterDefinition(db: Kysely<Database>, filter: BulkFilter): Promise<{ id: string } | null | undefined> {
  if (filter.definition === undefined) return undefined;
  return (await findDefinition(db, filter.definition, { includeDeleted: true })) ?? null;
}

export interface BulkGroup {
  definitionKey: string;
  definitionVersion: number;
  failedStep: string | null;
  errorType: string | null;
  count: number;
}

export interface PreviewedRun extends MatchedRun {
  /** What the action would do to it: for a reset, where it goes on; for a replay, the new execution. */
  action: string;
  /** Why it would be skipped or refused, when it would. */
  refused?: string | undefined;
  /** Deliveries the ledger shows made: a reset does not send them again, a replay does. */
  delivered: { stepPath: string; channel: string; recipient: string | null }[];
}

export interface BulkPreview {
  dryRun: true;
  action: RecoveryAction;
  matched: number;
  groups: BulkGroup[];
  runs: PreviewedRun[];
}

/** What a bulk action would do, changing nothing. */
export async function previewBulk(deps: RecoveryDeps, action: RecoveryAction, request: BulkRequest): Promise<BulkPreview> {
  const { db } = deps;
  const definition = await filterDefinition(db, request.filter);
  if (definition === null) return { dryRun: true, action, matched: 0, groups: [], runs: [] };
  const base = matching(db, request.filter, definition?.id);
  const [counted, groups, page] = await Promise.all([
    base.select((eb) => eb.fn.countAll<number>().as('matched')).executeTakeFirst(),
    base
      .select(['d.key as definitionKey', 'e.definition_version as definitionVersion', 'f.step_id as failedStep', 'f.error_type as errorType'])
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .groupBy(['d.key', 'e.definition_version', 'f.step_id', 'f.error_type'])
      .orderBy('count', 'desc')
      .execute(),
    selectRuns(base).orderBy('e.started_at', 'desc').orderBy('e.id', 'desc').limit(request.limit).execute(),
  ]);
  const [claimed, delivered] = await Promise.all([claimsOf(db, page), deliveredOf(db, page)]);
  const runs: PreviewedRun[] = [];
  for (const run of page) {
    const claim = run.runId ? claimed.get(`${run.executionId}/${run.runId}`) : undefined;
    runs.push({ ...run, delivered: delivered.get(run.workflowId) ?? [], ...(await previewOne(deps, action, request.to, run, claim)) });
  }
  return { dryRun: true, action, matched: Number(counted?.matched ?? 0), groups: groups.map((g) => ({ ...g, count: Number(g.count) })), runs };
}

async function claimsOf(db: Kysely<Database>, runs: MatchedRun[]): Promise<Map<string, string>> {
  if (runs.length === 0) return new Map();
  const rows = await db
    .selectFrom('recovery_claims')
    .select(['execution_id', 'run_id', 'batch_id'])
    .where('execution_id', 'in', runs.map((r) => r.executionId))
    .execute();
  return new Map(rows.map((r) => [`${r.execution_id}/${r.run_id}`, r.batch_id]));
}

/** The deliveries the ledger shows made for each run of the page, by workflow id, in the order they were made. */
async function deliveredOf(db: Kysely<Database>, runs: MatchedRun[]): Promise<Map<string, PreviewedRun['delivered']>> {
  const byRun = new Map<string, PreviewedRun['delivered']>();
  if (runs.length === 0) return byRun;
  const rows = await db
    .selectFrom('deliveries')
    .select(['workflow_id', 'step_path as stepPath', 'channel', 'recipient'])
    .where('workflow_id', 'in', runs.map((r) => r.workflowId))
    .where('status', '=', 'SENT')
    .orderBy('created_at')
    .execute();
  for (const { workflow_id, ...delivery } of rows) byRun.set(workflow_id, [...(byRun.get(workflow_id) ?? []), delivery]);
  return byRun;
}

async function previewOne(
  deps: RecoveryDeps,
  action: RecoveryAction,
  to: ResetTarget,
  run: MatchedRun,
  claimedBy: string | undefined,
): Promise<{ action: string; refused?: string }> {
  if (claimedBy) return { action: 'skip', refused: `batch ${claimedBy} already acted on this run` };
  if (action === 'replay') return { action: 'replay: a new execution of the same version and trigger data; every step runs and sends again' };
  if (run.status === 'SUCCESS') return { action: 'skip', refused: 'the run succeeded: nothing to reset' };
  if (!run.runId) return { action: 'skip', refused: 'the run never started on Temporal; replay it instead' };
  try {
    const history = await deps.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    const point = findResetPoint(history.events ?? [], to);
    return {
      action:
        to === 'start'
          ? 'reset to the start: every step runs again; sent messages are not sent again'
          : `reset to the failed step${run.failedStep ? ` ${run.failedStep}` : ''}${point.failed ? ` (${point.failed})` : ''}: it and what follows run again`,
    };
  } catch (err) {
    if (err instanceof ResetRefused) return { action: 'skip', refused: err.message };
    if (err instanceof WorkflowNotFoundError) return { action: 'skip', refused: 'Temporal no longer has the run (past the namespace retention); replay it instead' };
    throw err;
  }
}

// --- batches ----------------------------------------------------------------------------

export const BULK_RECOVERY_WORKFLOW = 'bulkRecoveryWorkflow';

const NOTHING_MATCHED = 'no closed run matches the filter: nothing to do (a dry run shows what matches)';

export interface BulkRecoveryInput {
  batchId: string;
  concurrency: number;
}

export interface BatchCreated {
  batchId: string;
  total: number;
  workflowId: string;
}

/**
 * Creates a batch of the runs the filter matches now, and starts the workflow
 * that works through them. Throws RecoveryRefused when nothing matches.
 */
export async function createBatch(deps: RecoveryDeps, action: RecoveryAction, request: BulkRequest, actor: Actor): Promise<BatchCreated> {
  const { db, client, config } = deps;
  const definition = await filterDefinition(db, request.filter);
  const batchId = randomUUID();
  const workflowId = `recovery-batch-${batchId}`;
  if (definition === null) throw new RecoveryRefused('nothing_matched', NOTHING_MATCHED);
  const total = await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('recovery_batches')
      .values({
        id: batchId,
        action,
        reset_to: action === 'reset' ? request.to : null,
        filter: JSON.stringify(request.filter),
        reason: request.reason,
        requested_by: actor.name,
        via_key: actor.keyId ?? null,
        concurrency: request.concurrency,
        total: 0,
        workflow_id: workflowId,
      })
      .execute();
    const runs = matching(trx, request.filter, definition?.id)
      .where('e.run_id', 'is not', null)
      .select([
        sql<string>`${batchId}::uuid`.as('batch_id'),
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
    if (count === 0) throw new RecoveryRefused('nothing_matched', NOTHING_MATCHED);
    await trx.updateTable('recovery_batches').set({ total: count }).where('id', '=', batchId).execute();
    return count;
  });
  const input: BulkRecoveryInput = { batchId, concurrency: request.concurrency };
  await client.workflow.start(BULK_RECOVERY_WORKFLOW, {
    taskQueue: config.temporal.taskQueue,
    workflowId,
    args: [input],
    staticSummary: `bulk ${action} of ${total} runs: ${request.reason}`,
  });
  return { batchId, total, workflowId };
}

export interface BatchProgress {
  id: string;
  action: RecoveryAction;
  resetTo: string | null;
  status: string;
  reason: string;
  requestedBy: string;
  filter: unknown;
  concurrency: number;
  total: number;
  pending: number;
  working: number;
  done: number;
  failed: number;
  skipped: number;
  createdAt: Date;
  finishedAt: Date | null;
  workflowId: string;
  /** Each failed or skipped run with the reason. */
  problems: { executionId: string; outcome: BatchItemOutcome; detail: string | null }[];
}

export async function batchProgress(db: Kysely<Database>, batchId: string): Promise<BatchProgress | undefined> {
  const batch = await db.selectFrom('recovery_batches').selectAll().where('id', '=', batchId).executeTakeFirst();
  if (!batch) return undefined;
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
  const n = (outcome: BatchItemOutcome) => Number(counts.find((c) => c.outcome === outcome)?.n ?? 0);
  return {
    ...publicBatch(batch),
    pending: n('PENDING'),
    working: n('WORKING'),
    done: n('DONE'),
    failed: n('FAILED'),
    skipped: n('SKIPPED'),
    problems,
  };
}

function publicBatch(batch: RecoveryBatchRow) {
  return {
    id: batch.id,
    action: batch.action,
    resetTo: batch.reset_to,
    status: batch.status,
    reason: batch.reason,
    requestedBy: batch.requested_by,
    filter: batch.filter,
    concurrency: batch.concurrency,
    total: batch.total,
    createdAt: batch.created_at,
    finishedAt: batch.finished_at,
    workflowId: batch.workflow_id,
  };
}

export async function listBatches(db: Kysely<Database>, limit: number) {
  const rows = await db.selectFrom('recovery_batches').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map(publicBatch);
}

/** Asks the batch's workflow to stop; runs not begun are skipped, those in hand finish. */
export async function cancelBatch(deps: RecoveryDeps, batchId: string): Promise<RecoveryBatchRow> {
  const batch = await deps.db.selectFrom('recovery_batches').selectAll().where('id', '=', batchId).executeTakeFirst();
  if (!batch) throw new RecoveryRefused('not_found', `no batch has id "${batchId}"`);
  if (batch.status !== 'RUNNING') throw new RecoveryRefused('batch_finished', `batch ${batchId} is ${batch.status}: nothing to cancel`);
  try {
    await deps.client.workflow.getHandle(batch.workflow_id).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return batch;
}

// --- the batch's steps, run as activities -----------------------------------------------

/** The id of the replay a batch starts for a run: the same on every attempt, so a retry finds it. */
export function replayIdFor(batchId: string, executionId: string): string {
  const h = createHash('sha256').update(`${batchId}/${executionId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface ItemOutcome {
  outcome: 'DONE' | 'FAILED' | 'SKIPPED';
  detail?: string | undefined;
  result?: Record<string, unknown> | undefined;
}

/**
 * Takes the batch's next run (or the one this same activity had taken on an
 * earlier attempt that died) and recovers it. Answers false when no run is
 * left. `worker` names the activity, without its attempt.
 */
export async function recoverNextItem(deps: RecoveryDeps, batchId: string, worker: string): Promise<boolean> {
  const { db } = deps;
  const batch = await db.selectFrom('recovery_batches').selectAll().where('id', '=', batchId).executeTakeFirst();
  if (!batch) return false;
  let item = await db
    .selectFrom('recovery_batch_items')
    .selectAll()
    .where('batch_id', '=', batchId)
    .where('outcome', '=', 'WORKING')
    .where('claimed_by', '=', worker)
    .executeTakeFirst();
  if (!item) {
    item = await db
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
  if (!item) return false;
  const outcome = await recoverItem(deps, batch, item);
  await db
    .updateTable('recovery_batch_items')
    .set({
      outcome: outcome.outcome,
      detail: outcome.detail ?? null,
      result: outcome.result ? JSON.stringify(outcome.result) : null,
      updated_at: sql<Date>`now()`,
    })
    .where('batch_id', '=', batchId)
    .where('execution_id', '=', item.execution_id)
    .execute();
  return true;
}

async function recoverItem(deps: RecoveryDeps, batch: RecoveryBatchRow, item: RecoveryBatchItemRow): Promise<ItemOutcome> {
  const { execution_id: executionId, run_id: runId } = item;
  const resetAsked = (item.result as { resetAsked?: boolean } | null)?.resetAsked === true;
  const { db, client } = deps;
  await db.insertInto('recovery_claims').values({ execution_id: executionId, run_id: runId, batch_id: batch.id }).onConflict((oc) => oc.doNothing()).execute();
  const claim = await db.selectFrom('recovery_claims').select('batch_id').where('execution_id', '=', executionId).where('run_id', '=', runId).executeTakeFirst();
  if (claim && claim.batch_id !== batch.id) return { outcome: 'SKIPPED', detail: `batch ${claim.batch_id} acted on this run` };
  const row = await findExecution(db, executionId);
  if (!row) return { outcome: 'SKIPPED', detail: 'the execution no longer exists' };
  const actor = { name: batch.requested_by, keyId: batch.via_key ?? undefined };
  try {
    if (batch.action === 'replay') {
      const id = replayIdFor(batch.id, executionId);
      const earlier = await findExecution(db, id);
      if (earlier) return { outcome: 'DONE', result: { executionId: id, replayOf: executionId } };
      const replay = await replayClosedExecution(deps, row, id);
      return { outcome: 'DONE', result: { executionId: replay.executionId, runId: replay.runId, replayOf: executionId } };
    }
    // A reset: act only on the run the batch took; a later one means it was reset meanwhile,
    // by an earlier attempt of this step (which said so before it asked) or by someone else.
    const latest = await client.workflow.getHandle(row.workflow_id).describe();
    if (latest.runId !== runId) {
      if (!resetAsked) return { outcome: 'SKIPPED', detail: `the run was reset outside this batch (now run ${latest.runId})` };
      await attachResetRun(db, row.id, runId, latest.runId);
      return { outcome: 'DONE', result: { runId: latest.runId, previousRunId: runId } };
    }
    if (!resetAsked && (row.run_id !== runId || !isTerminal(row.status))) {
      return { outcome: 'SKIPPED', detail: `the execution is ${row.status} on run ${row.run_id}, not the failed run the batch took` };
    }
    await db
      .updateTable('recovery_batch_items')
      .set({ result: JSON.stringify({ resetAsked: true }) })
      .where('batch_id', '=', batch.id)
      .where('execution_id', '=', executionId)
      .execute();
    const done = await resetExecution(deps, row, (batch.reset_to ?? 'failed-step') as ResetTarget, `${batch.reason} [batch ${batch.id}]`, actor, {
      resuming: resetAsked,
    });
    return { outcome: 'DONE', result: { runId: done.runId, previousRunId: done.previousRunId, ...(done.redoes ? { redoes: done.redoes } : {}) } };
  } catch (err) {
    if (err instanceof RecoveryRefused) return { outcome: 'FAILED', detail: err.message };
    if (err instanceof WorkflowNotFoundError) return { outcome: 'FAILED', detail: 'Temporal no longer has the run (past the namespace retention); replay it instead' };
    throw err;
  }
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
