/**
 * Moving waiting runs of a definition from one version to another
 * (`POST /api/workflows/:id/migrate`). The runs are the mirror's open rows of
 * the old version; each is asked for its live state, planned (where it would
 * go on, what differs) and, unless it is a dry run, sent the `migrate`
 * update, which the run itself checks again before it moves
 * (src/shared/migration.ts, workflows/interpreter.ts). One bad run never
 * stops the rest: it is reported as refused, with the reason.
 */
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { getDefinitionVersion } from '../../db/definitions';
import { listOpenExecutionsOfVersion } from '../../db/executions';
import type { Database, DefinitionRow } from '../../db/schema';
import type { Definition, Step } from '../shared/definition';
import { STEP_ID } from '../shared/definition';
import { continuationIn, isMigratableStep, MIGRATE_UPDATE, type MigrateInput, type MigrateReceipt } from '../shared/migration';
import type { DefinitionSnapshot, RunState } from '../shared/run';
import { type Actor, recordAudit, RecoveryRefused } from './recovery';

const stepId = z.string().regex(STEP_ID, 'must be a step id');

export const migrateRequest = z
  .object({
    fromVersion: z.number().int().min(1),
    toVersion: z.number().int().min(1),
    /** Old step id → new step id, for waiting steps renamed in the new version. */
    stepMap: z.record(stepId, stepId).optional(),
    dryRun: z.boolean().default(false),
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .meta({ description: "why the runs move, for the audit log and each run's step log: required unless it is a dry run" }),
    /** The most runs to take, oldest first. */
    limit: z.number().int().min(1).max(2000).default(500),
    /** Runs moved at once. */
    concurrency: z.number().int().min(1).max(32).default(8),
  })
  .strict();

export type MigrateRequest = z.infer<typeof migrateRequest>;

/** One run as the move would (or did) treat it. */
export interface MigrationPlan {
  executionId: string;
  workflowId: string;
  /** The top-level step it waits at now, and its type. */
  waitingAt: string | null;
  waitingType: string | null;
  /** The step of the new version it goes on at, and its type. */
  continuesAt?: string | undefined;
  continuesType?: string | undefined;
  /** Steps of the new version before that one that the run never ran: they will not run. */
  notRun: string[];
  /** Steps the run passed that the new version no longer has: nothing is lost, they are done. */
  passedRemoved: string[];
  /** Whether the step it goes on at differs in the new version (a new duration, timeout, approvers…). */
  stepChanged: boolean;
  /** Why it cannot move; absent when it can. */
  refused?: string | undefined;
  /** After a real move: moved, or refused by the run itself. */
  outcome?: 'MOVED' | 'REFUSED' | undefined;
}

export interface MigrationResult {
  definitionId: string;
  fromVersion: number;
  toVersion: number;
  dryRun: boolean;
  /** Open runs of the old version looked at, and how many more there are past the limit. */
  total: number;
  more: boolean;
  movable: number;
  moved: number;
  refused: number;
  runs: MigrationPlan[];
}

/**
 * Plans one run's move from its live state: pure, so the dry run and the
 * real run agree, and fast to test.
 */
export function planMigration(
  from: Definition,
  to: Definition,
  state: Pick<RunState, 'currentSteps' | 'steps' | 'movableAt' | 'status'>,
  stepMap: Record<string, string> | undefined,
): Omit<MigrationPlan, 'executionId' | 'workflowId'> {
  const topIds = new Set(from.steps.map((s) => s.id));
  const waiting = state.currentSteps.find((p) => topIds.has(p));
  const waitingStep = waiting === undefined ? undefined : from.steps.find((s) => s.id === waiting);
  const base = { waitingAt: waiting ?? null, waitingType: waitingStep?.type ?? null, notRun: [], passedRemoved: [], stepChanged: false };
  if (state.status !== 'RUNNING') return { ...base, refused: `the run is ${state.status}` };
  if (!waitingStep || !isMigratableStep(waitingStep)) {
    const at = state.currentSteps.length ? ` (it is at ${state.currentSteps.join(', ')})` : '';
    return { ...base, refused: `not waiting at a top-level approval, delay or wait_for_signal step${at}` };
  }
  if (state.movableAt !== waiting) {
    const busy = state.currentSteps.filter((p) => p !== waiting);
    return {
      ...base,
      refused: busy.length
        ? `step "${waiting}" is busy (${busy.join(', ')}); ask again once it waits`
        : `this run began waiting at "${waiting}" before runs could move; it can move at its next wait`,
    };
  }
  const target = continuationIn(to, waitingStep.id, stepMap);
  if ('refused' in target) return { ...base, refused: target.refused };
  const ran = new Set(state.steps.filter((s) => s.status !== 'PENDING').map((s) => s.id));
  const toIds = new Set(to.steps.map((s) => s.id));
  const fromIndex = from.steps.indexOf(waitingStep);
  return {
    ...base,
    continuesAt: target.step.id,
    continuesType: target.step.type,
    notRun: to.steps.slice(0, target.index).map((s) => s.id).filter((id) => !ran.has(id)),
    passedRemoved: from.steps.slice(0, fromIndex).map((s) => s.id).filter((id) => !toIds.has(id)),
    stepChanged: !sameStep(waitingStep, target.step),
  };
}

function sameStep(a: Step, b: Step): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface MigrationDeps {
  db: Kysely<Database>;
  client: Client;
}

/** Plans, and unless `dryRun` carries out, the move of a definition's waiting runs from one version to another. */
export async function migrateWaitingRuns(
  deps: MigrationDeps,
  definition: DefinitionRow,
  request: MigrateRequest,
  actor: Actor,
): Promise<MigrationResult> {
  const { db, client } = deps;
  if (request.fromVersion === request.toVersion) {
    throw new RecoveryRefused('nothing_matched', `fromVersion and toVersion are both ${request.fromVersion}: there is nothing to move`);
  }
  if (!request.dryRun && request.reason === undefined) {
    throw new RecoveryRefused('validation_failed', 'say why the runs move (it is kept in the audit log), or ask for a dry run');
  }
  const [fromRow, toRow] = await Promise.all([
    getDefinitionVersion(db, definition.id, request.fromVersion),
    getDefinitionVersion(db, definition.id, request.toVersion),
  ]);
  if (!fromRow) throw new RecoveryRefused('not_found', `definition "${definition.key}" has no version ${request.fromVersion}`);
  if (!toRow) throw new RecoveryRefused('not_found', `definition "${definition.key}" has no version ${request.toVersion}`);
  const from = fromRow.document as Definition;
  const to = toRow.document as Definition;
  checkStepMap(from, to, request.stepMap);

  const rows = await listOpenExecutionsOfVersion(db, definition.id, request.fromVersion, request.limit + 1);
  const page = rows.slice(0, request.limit);
  const snapshot: DefinitionSnapshot = { id: definition.id, version: request.toVersion, document: to };

  const runs = await inPool(page, request.concurrency, async (row): Promise<MigrationPlan> => {
    const handle = client.workflow.getHandle(row.workflow_id);
    let plan: MigrationPlan;
    try {
      const state = await handle.query<RunState>('state');
      plan = { executionId: row.id, workflowId: row.workflow_id, ...planMigration(from, to, state, request.stepMap) };
    } catch (err) {
      const message = /not found|already completed/i.test(String(err)) ? 'the run has ended' : `its state could not be read: ${(err as Error).message}`;
      plan = { executionId: row.id, workflowId: row.workflow_id, waitingAt: null, waitingType: null, notRun: [], passedRemoved: [], stepChanged: false, refused: message };
    }
    if (request.dryRun || plan.refused) return plan;
    const input: MigrateInput = { definition: snapshot, stepMap: request.stepMap, by: actor.name, reason: request.reason! };
    try {
      await handle.executeUpdate<MigrateReceipt, [MigrateInput]>(MIGRATE_UPDATE, { args: [input] });
      return { ...plan, outcome: 'MOVED' };
    } catch (err) {
      // The run refused (it moved on meanwhile, or began a busy moment) or has ended: reported, the others go on.
      const reason = err instanceof WorkflowUpdateFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
      return { ...plan, outcome: 'REFUSED', refused: reason };
    }
  });

  const result: MigrationResult = {
    definitionId: definition.id,
    fromVersion: request.fromVersion,
    toVersion: request.toVersion,
    dryRun: request.dryRun,
    total: page.length,
    more: rows.length > page.length,
    movable: runs.filter((r) => !r.refused || r.outcome === 'REFUSED').length,
    moved: runs.filter((r) => r.outcome === 'MOVED').length,
    refused: runs.filter((r) => r.refused).length,
    runs,
  };
  if (!request.dryRun) {
    await recordAudit(db, {
      actor,
      action: 'definition.migrate',
      target: definition.id,
      reason: request.reason,
      filter: { definition: definition.key, fromVersion: request.fromVersion, toVersion: request.toVersion, stepMap: request.stepMap ?? {} },
      outcome: {
        total: result.total,
        moved: result.moved,
        refused: runs.filter((r) => r.refused).map((r) => ({ executionId: r.executionId, reason: r.refused })),
      },
    });
  }
  return result;
}

/** A step map names waiting steps of the old version and top-level steps of the new one. */
function checkStepMap(from: Definition, to: Definition, stepMap: Record<string, string> | undefined): void {
  for (const [old, next] of Object.entries(stepMap ?? {})) {
    if (!from.steps.some((s) => s.id === old)) {
      throw new RecoveryRefused('validation_failed', `stepMap: "${old}" is not a top-level step of the old version`);
    }
    if (!to.steps.some((s) => s.id === next)) {
      throw new RecoveryRefused('validation_failed', `stepMap: "${next}" (for "${old}") is not a top-level step of the new version`);
    }
  }
}

/** Maps `items` with at most `size` calls at once, keeping their order. */
async function inPool<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, lane));
  return results;
}
