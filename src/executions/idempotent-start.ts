/**
 * A start keyed by the caller (an Idempotency-Key, or a webhook delivery's
 * id): the workflow id is derived from the key, so Temporal itself (a workflow
 * id is unique) and the mirror (its `workflow_id` column is unique) both
 * refuse a second run. The guarantee survives gateway restarts and concurrent
 * requests, with no state in the gateway. Pinning the version and starting the
 * workflow are start.ts's.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { markExecutionStarted } from '../../db/execution-starts';
import { findExecutionByWorkflowId, insertExecutionOnce, reopenUnstartedExecution, settleExecution } from '../../db/executions';
import type { DefinitionRow, ExecutionRow } from '../../db/schema';
import type { Definition } from '../shared/definition';
import type { TriggerType } from '../shared/run';
import {
  checkDeadline,
  loadPinnedVersion,
  mirrorRow,
  pinCurrentVersion,
  type RunToStart,
  START_DEADLINE_MS,
  type StartDeps,
  type StartedExecution,
  StartError,
  type StartOptions,
  startOnTemporal,
} from './start';

/** A run started earlier under the same idempotency key, or the one this call started. */
export interface IdempotentStart extends StartedExecution {
  /** True when an earlier request with the same key had already made this run. */
  idempotentReplay: boolean;
  /** The mirror's status of the run when answered. */
  status: string;
}

/** What an idempotency key (or a webhook delivery id) may be. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;

/**
 * The workflow id of the run a key stands for: the definition key, then a
 * digest of the trigger type and the key, so manual starts and webhook
 * deliveries never share keys, and the caller's key is not shown as is.
 * Unlike the ids of `workflowIdFor` (src/temporal/client.ts) it has no
 * dashes after `-idem-`, so the two kinds never collide.
 */
export function idempotentWorkflowId(definitionKey: string, triggerType: TriggerType, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${triggerType}\n${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${definitionKey}-idem-${digest}`;
}

/**
 * Starts the run `idempotencyKey` stands for, or answers the one an earlier
 * request with the same key (for the same definition and trigger type)
 * started, however long ago, whatever became of it.
 *
 * The mirror row is claimed first (insert-or-get on the unique workflow id);
 * whoever finds it without a run id starts the workflow with Temporal's
 * USE_EXISTING conflict policy and REJECT_DUPLICATE reuse policy, from the
 * row's own execution id, version and trigger data. So concurrent requests
 * all end at the same run, and a request after a gateway crash between row
 * and start finishes the start instead of making a second run.
 */
export async function startExecutionIdempotently(
  { db, client, config }: StartDeps,
  definition: DefinitionRow,
  triggerData: Record<string, unknown>,
  triggerType: TriggerType,
  idempotencyKey: string,
  { timeoutMs }: StartOptions = {},
): Promise<IdempotentStart> {
  const workflowId = idempotentWorkflowId(definition.key, triggerType, idempotencyKey);
  let row = await findExecutionByWorkflowId(db, workflowId);
  // Answered before any check of today's definition: a replay returns the first run even if the
  // definition has since been disabled or its input schema tightened.
  if (row?.run_id) return replay(row);

  /** This call inserted the row: its trigger data and pinned version are the run's. */
  let inserted = false;
  /** This call made or reopened the row: it answers as the start (202) and settles a failed start. */
  let owner = false;
  let pinned: { version: number; document: Definition } | undefined;
  if (!row) {
    pinned = await pinCurrentVersion(db, definition, triggerData);
    checkDeadline(pinned.document, timeoutMs);
    const claimed = await insertExecutionOnce(
      db,
      mirrorRow(definition, pinned.version, randomUUID(), workflowId, triggerType, triggerData),
    );
    row = claimed.row;
    inserted = owner = claimed.created;
    if (!inserted && row.run_id) return replay(row);
  }

  if (row.status === 'FAILED' && !row.run_id) {
    // The first attempt did not get the run going (Temporal refused or was unreachable, or a
    // gateway died and the reconciler gave up on the row). Temporal may have taken it all the same.
    const runId = await existingRunId(client, workflowId);
    if (!runId && !definition.enabled) {
      throw new StartError('definition_disabled', `definition "${definition.key}" is disabled; enable it before starting runs`);
    }
    // Reopened, the row is settled again by the run itself or by the reconciler.
    const reopened = await reopenUnstartedExecution(db, row.id);
    if (reopened) {
      row = reopened;
      owner = !runId;
    } else {
      // Another request reopened it first: follow its start.
      row = (await findExecutionByWorkflowId(db, workflowId)) ?? row;
      if (row.run_id) return replay(row);
    }
    if (runId) {
      await markExecutionStarted(db, row.id, runId);
      return replay((await findExecutionByWorkflowId(db, workflowId)) ?? { ...row, run_id: runId });
    }
  }

  // `row` has no run id: inserted or reopened by this call, or another request's start is in flight.
  const { version, document } =
    inserted && pinned ? pinned : await loadPinnedVersion(db, definition, row.definition_version);
  const run: RunToStart = {
    definition,
    version,
    document,
    executionId: row.id,
    workflowId,
    triggerType,
    triggerData: inserted ? triggerData : (row.trigger_data as Record<string, unknown>),
    timeoutMs,
  };
  let runId: string;
  try {
    runId = await startOnTemporal(client, config, run, true);
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // Started and already closed (REJECT_DUPLICATE): it is the run this key stands for.
      runId = (await existingRunId(client, workflowId)) ?? '';
      if (!runId) throw new StartError('temporal_unavailable', `Temporal reports run ${workflowId} as started but cannot describe it`);
    } else {
      // Only the request that owns the row settles it; another request's start may still succeed.
      if (owner) await settleExecution(db, row.id, { status: 'FAILED', error: `could not start on Temporal: ${String(err)}` });
      throw new StartError('temporal_unavailable', `Temporal did not accept the run: ${(err as Error).message}`);
    }
  }
  await markExecutionStarted(db, row.id, runId);
  return {
    executionId: row.id,
    workflowId,
    runId,
    definitionVersion: row.definition_version,
    idempotentReplay: !owner,
    status: 'RUNNING',
  };
}

function replay(row: ExecutionRow): IdempotentStart {
  return {
    executionId: row.id,
    workflowId: row.workflow_id,
    runId: row.run_id ?? '',
    definitionVersion: row.definition_version,
    idempotentReplay: true,
    status: row.status,
  };
}

/** The run id Temporal holds under `workflowId`, or undefined when it has none. */
async function existingRunId(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.withDeadline(Date.now() + START_DEADLINE_MS, () => client.workflow.getHandle(workflowId).describe())).runId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw new StartError('temporal_unavailable', `Temporal did not answer: ${(err as Error).message}`);
  }
}
