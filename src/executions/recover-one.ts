/**
 * Resetting or replaying one closed run (src/executions/recovery.ts tells
 * the two apart), and what every recovery shares: who acts and how a
 * recovery is refused.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { findDefinition } from '../../db/definitions';
import { attachResetRun, reopenForReset, restoreAfterRefusedReset } from '../../db/executions';
import type { Database, ExecutionRow } from '../../db/schema';
import type { Config } from '../config';
import { isTerminal } from '../shared/status';
import { ResetRefused, type ResetTarget, resetRun } from './reset';
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
