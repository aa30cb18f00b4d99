/**
 * Bulk recovery as the API asks for it: which runs a filter takes, what a
 * dry run answers, and creating, following and cancelling a batch. The
 * batch's own steps are in recovery-batch.ts; the queries in db/recovery.ts.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { findDefinition } from '../../db/definitions';
import {
  type MatchedRun,
  type RunFilter,
  type SentDelivery,
  batchItemsSummary,
  claimsOf,
  findBatch,
  insertBatchOfMatches,
  listBatches as listBatchRows,
  previewMatches,
  sentDeliveriesOf,
} from '../../db/recovery';
import type { BatchItemOutcome, Database, RecoveryAction, RecoveryBatchRow } from '../../db/schema';
import { type Actor, type RecoveryDeps, RecoveryRefused } from './recover-one';
import { RESET_TARGETS, ResetRefused, type ResetTarget, findResetPoint } from './reset';

export type { MatchedRun } from '../../db/recovery';

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

/**
 * The filter in the mirror's terms, with the definition it names found by id
 * or key (deleted ones too: their runs can still be replayed or reset); null
 * when it names one that does not exist, so nothing matches.
 */
async function runFilter(db: Kysely<Database>, filter: BulkFilter): Promise<RunFilter | null> {
  let definitionId: string | undefined;
  if (filter.definition !== undefined) {
    const definition = await findDefinition(db, filter.definition, { includeDeleted: true });
    if (!definition) return null;
    definitionId = definition.id;
  }
  return {
    status: filter.status,
    definitionId,
    version: filter.version,
    from: filter.from === undefined ? undefined : new Date(filter.from),
    to: filter.to === undefined ? undefined : new Date(filter.to),
    error: filter.error,
    failedStep: filter.failedStep,
    errorType: filter.errorType,
  };
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
  delivered: SentDelivery[];
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
  const filter = await runFilter(db, request.filter);
  if (filter === null) return { dryRun: true, action, matched: 0, groups: [], runs: [] };
  const { matched, groups, runs: page } = await previewMatches(db, filter, request.limit);
  const [claimed, delivered] = await Promise.all([
    claimsOf(db, page.map((r) => r.executionId)),
    sentDeliveriesOf(db, page.map((r) => r.workflowId)),
  ]);
  const runs: PreviewedRun[] = [];
  for (const run of page) {
    const claim = run.runId ? claimed.get(`${run.executionId}/${run.runId}`) : undefined;
    runs.push({ ...run, delivered: delivered.get(run.workflowId) ?? [], ...(await previewOne(deps, action, request.to, run, claim)) });
  }
  return { dryRun: true, action, matched, groups, runs };
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
  const filter = await runFilter(db, request.filter);
  const batchId = randomUUID();
  const workflowId = `recovery-batch-${batchId}`;
  if (filter === null) throw new RecoveryRefused('nothing_matched', NOTHING_MATCHED);
  const total = await insertBatchOfMatches(
    db,
    {
      id: batchId,
      action,
      reset_to: action === 'reset' ? request.to : null,
      filter: JSON.stringify(request.filter),
      reason: request.reason,
      requested_by: actor.name,
      via_key: actor.keyId ?? null,
      concurrency: request.concurrency,
      workflow_id: workflowId,
    },
    filter,
  );
  if (total === 0) throw new RecoveryRefused('nothing_matched', NOTHING_MATCHED);
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
  const batch = await findBatch(db, batchId);
  if (!batch) return undefined;
  const { counts, problems } = await batchItemsSummary(db, batchId);
  const n = (outcome: BatchItemOutcome) => counts.get(outcome) ?? 0;
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
  return (await listBatchRows(db, limit)).map(publicBatch);
}

/** Asks the batch's workflow to stop; runs not begun are skipped, those in hand finish. */
export async function cancelBatch(deps: RecoveryDeps, batchId: string): Promise<RecoveryBatchRow> {
  const batch = await findBatch(deps.db, batchId);
  if (!batch) throw new RecoveryRefused('not_found', `no batch has id "${batchId}"`);
  if (batch.status !== 'RUNNING') throw new RecoveryRefused('batch_finished', `batch ${batchId} is ${batch.status}: nothing to cancel`);
  try {
    await deps.client.workflow.getHandle(batch.workflow_id).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return batch;
}
