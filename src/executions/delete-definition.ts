/**
 * Deleting a definition. It is a soft delete: the row gets `deleted_at` and
 * disappears from the API (list, read, execute, hooks, calls), while its
 * versions and its runs stay for reports. Its Temporal Schedule, if any, is
 * deleted. While runs are open the deletion is refused, unless forced: then
 * each open run is cancelled (not terminated), so the interpreter stops the
 * step in progress and records the run `CANCELLED` with its step log.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { markDefinitionDeleted } from '../../db/definitions';
import { listOpenExecutionsOf, settleExecution } from '../../db/executions';
import type { Database, DefinitionRow, ExecutionRow } from '../../db/schema';
import { deleteSchedule } from './schedules';

/** Why a deletion did not happen. */
export class DeleteRefusedError extends Error {
  constructor(
    readonly code: 'definition_has_open_runs' | 'temporal_unavailable' | 'not_found',
    message: string,
    /** The open runs' execution ids, for `definition_has_open_runs`. */
    readonly executionIds: readonly string[] = [],
  ) {
    super(message);
    this.name = 'DeleteRefusedError';
  }
}

export interface DeletedDefinition {
  row: DefinitionRow;
  /** Whether a Temporal Schedule was deleted with it. */
  scheduleDeleted: boolean;
  /** Open runs asked to cancel (force only). */
  cancelledExecutionIds: string[];
}

type OpenRun = Pick<ExecutionRow, 'id' | 'workflow_id' | 'run_id' | 'status'>;

/** How many open runs a refusal names by id. */
const NAMED_RUNS = 10;

export async function deleteDefinition(
  { db, client }: { db: Kysely<Database>; client: Client },
  definition: DefinitionRow,
  { force }: { force: boolean },
): Promise<DeletedDefinition> {
  const open = await listOpenExecutionsOf(db, definition.id);
  if (open.length > 0 && !force) {
    const ids = open.map((run) => run.id);
    const named = ids.slice(0, NAMED_RUNS).join(', ') + (ids.length > NAMED_RUNS ? `, and ${ids.length - NAMED_RUNS} more` : '');
    throw new DeleteRefusedError(
      'definition_has_open_runs',
      `definition "${definition.key}" has ${ids.length} open run(s) (${named}); wait for them to finish, ` +
        'cancel them, or repeat with ?force=true to cancel them and delete',
      ids,
    );
  }

  // Temporal first: should it fail, nothing is deleted yet and the request can be repeated.
  const scheduleDeleted = await temporal(() => deleteSchedule(client, definition.key), 'delete the schedule');
  const cancelled = await cancelRuns(db, client, open);

  const row = await markDefinitionDeleted(db, definition.id);
  if (!row) throw new DeleteRefusedError('not_found', `no workflow definition has id "${definition.id}"`);
  // A run started between the check and the mark (it had found the definition before) is cancelled
  // too; the definition is deleted by now, so this pass is best effort.
  const started = force ? (await listOpenExecutionsOf(db, definition.id)).filter((run) => !cancelled.includes(run.id)) : [];
  cancelled.push(...(await cancelRuns(db, client, started).catch(() => [])));
  return { row, scheduleDeleted, cancelledExecutionIds: cancelled };
}

/** Asks each run to cancel; answers their execution ids. A run Temporal never had is settled here. */
async function cancelRuns(db: Kysely<Database>, client: Client, runs: OpenRun[]): Promise<string[]> {
  const ids: string[] = [];
  for (const run of runs) {
    try {
      await temporal(() => client.workflow.getHandle(run.workflow_id).cancel(), `cancel execution ${run.id}`);
    } catch (err) {
      if (!(err instanceof DeleteRefusedError && isClosed(err.cause))) throw err;
      // Closed already (the reconciler will record how), or never started: nothing to cancel.
      if (!run.run_id) await settleExecution(db, run.id, { status: 'CANCELLED', error: 'the definition was deleted before the run started' });
    }
    ids.push(run.id);
  }
  return ids;
}

/** Temporal's answer for a run that has closed or that it never had. */
function isClosed(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String(err));
}

async function temporal<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const refused = new DeleteRefusedError('temporal_unavailable', `could not ${what} on Temporal: ${(err as Error).message}; the definition is not deleted, repeat the request`);
    refused.cause = err;
    throw refused;
  }
}
