/**
 * Starting a run: pin the definition's current version, write the mirror row,
 * start the one generic workflow, and hand back the ids at once.
 *
 * An idempotent start ({@link startExecutionIdempotently}) derives the workflow
 * id from the caller's key, so Temporal itself (a workflow id is unique) and
 * the mirror (its `workflow_id` column is unique) both refuse a second run:
 * the guarantee survives gateway restarts and concurrent requests, with no
 * state in the gateway.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { getDefinitionVersion } from '../../db/definitions';
import { insertExecutions, markExecutionStarted, markExecutionsStarted, type PendingExecutionRow } from '../../db/execution-starts';
import { findExecutionByWorkflowId, insertExecutionOnce, reopenUnstartedExecution, settleExecution } from '../../db/executions';
import { GroupWriter } from '../../db/group-writer';
import type { Database, DefinitionRow, ExecutionRow } from '../../db/schema';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { type Definition, parseDefinition } from '../shared/definition';
import { parseDuration } from '../shared/duration';
import { WORKFLOW_EXPRESSION_STEPS } from '../shared/expressions';
import { INTERPRETER_WORKFLOW, type RunInput, type RunSettings, type TriggerType } from '../shared/run';
import {
  Category,
  DefinitionId,
  DefinitionKey,
  DefinitionVersion,
  TemplateKey,
  TriggerType as TriggerTypeAttribute,
} from '../shared/search-attributes';
import { workflowIdFor } from '../temporal/client';
import { type InputProblem, validateTriggerData } from './input-schema';

export interface StartedExecution {
  executionId: string;
  workflowId: string;
  runId: string;
  definitionVersion: number;
}

export class StartError extends Error {
  constructor(
    readonly code: 'definition_disabled' | 'definition_version_missing' | 'definition_invalid' | 'temporal_unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

/** Trigger data that the definition's input schema refuses; nothing was started. */
export class TriggerDataError extends Error {
  constructor(readonly problems: InputProblem[]) {
    super(`trigger data does not match the definition's input schema: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`);
    this.name = 'TriggerDataError';
  }
}

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
 * Unlike {@link workflowIdFor}'s ids it has no dashes after `-idem-`, so the
 * two kinds never collide.
 */
export function idempotentWorkflowId(definitionKey: string, triggerType: TriggerType, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${triggerType}\n${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${definitionKey}-idem-${digest}`;
}

export interface StartDeps {
  db: Kysely<Database>;
  client: Client;
  config: Config;
  /** Told when a write after the answer fails. */
  logger?: Pick<Logger, 'warn'> | undefined;
}

/** What a start request may ask of its run beyond its trigger data. */
export interface StartOptions {
  /** A deadline shorter than the definition's `timeout`, in milliseconds. @default the definition's */
  timeoutMs?: number | undefined;
}

export async function startExecution(
  { db, client, config, logger }: StartDeps,
  definition: DefinitionRow,
  triggerData: Record<string, unknown>,
  triggerType: TriggerType = 'manual',
  { timeoutMs }: StartOptions = {},
): Promise<StartedExecution> {
  const { version, document } = await pinCurrentVersion(db, definition, triggerData);
  checkDeadline(document, timeoutMs);
  return startNewExecution({ db, client, config, logger }, { definition, version, document, triggerType, triggerData, timeoutMs });
}

/** A start option the pinned definition refuses: the gateway answers 400 naming `option`. */
export class StartOptionError extends Error {
  constructor(
    readonly option: keyof StartOptions,
    message: string,
  ) {
    super(message);
    this.name = 'StartOptionError';
  }
}

/** The definition's own deadline (`timeout`) in milliseconds, or undefined for none. */
function definitionDeadlineMs(document: Definition): number | undefined {
  return document.timeout === undefined ? undefined : parseDuration(document.timeout);
}

/** Refuses a start's deadline that would lengthen the definition's. */
function checkDeadline(document: Definition, timeoutMs: number | undefined): void {
  const own = definitionDeadlineMs(document);
  if (timeoutMs !== undefined && own !== undefined && timeoutMs > own) {
    throw new StartOptionError('timeoutMs', `may only shorten the definition's timeout of ${document.timeout}`);
  }
}

/** A run's deadline in milliseconds: the start's, else the definition's; undefined for none. */
export function runDeadlineMs(document: Definition, timeoutMs: number | undefined): number | undefined {
  return timeoutMs ?? definitionDeadlineMs(document);
}

/**
 * Runs a closed execution again as a new execution: the same definition
 * version it pinned (not the current one), the same trigger data and trigger
 * type, its mirror row pointing back with `replay_of`. Its messages go out
 * again, since deliveries are deduplicated per execution.
 */
export async function replayExecution(
  { db, client, config }: StartDeps,
  definition: DefinitionRow,
  original: ExecutionRow,
  /** The new execution's id, when the caller must be able to tell it started it (a batch's retried step); a new one by default. */
  executionId?: string,
): Promise<StartedExecution> {
  const { version, document } = await loadPinnedVersion(db, definition, original.definition_version);
  return startNewExecution(
    { db, client, config },
    {
      definition,
      version,
      document,
      triggerType: original.trigger_type as TriggerType,
      triggerData: original.trigger_data as unknown as Record<string, unknown>,
      replayOf: original.id,
      ...(executionId ? { executionId } : {}),
    },
  );
}

/**
 * Writes a new execution's mirror row, starts its run, and answers as soon as
 * Temporal has accepted it; the row is marked started (run id, RUNNING) right
 * after, grouped with other starts' marks, not before the answer. Should that
 * write fail, the run's own first mirror write marks it, or the reconciler.
 * When Temporal refuses, the row is settled FAILED before the error is thrown.
 *
 * The row is committed before the start, so no run exists without it and a
 * read right after the answer finds it, but the start does not wait for the
 * commit to reach disk: the run carries its row and its first mirror write
 * makes it again should a database crash lose it. A replay's row waits for
 * the disk, as its link to the execution it replays is not the run's to know.
 */
async function startNewExecution(
  { db, client, config, logger }: StartDeps,
  start: Omit<RunToStart, 'executionId' | 'workflowId'> & { replayOf?: string; executionId?: string },
): Promise<StartedExecution> {
  const { definition, version, triggerType, triggerData, replayOf } = start;
  const executionId = start.executionId ?? randomUUID();
  const workflowId = workflowIdFor(definition.key, executionId);
  const writes = groupWritesFor(db);
  const row = mirrorRow(definition, version, executionId, workflowId, triggerType, triggerData);
  if (replayOf) await insertExecutions(db, [{ ...row, replay_of: replayOf }]);
  else await writes.rows.add(row);
  let runId: string;
  try {
    runId = await startOnTemporal(client, config, { ...start, executionId, workflowId }, false);
  } catch (err) {
    await settleExecution(db, executionId, { status: 'FAILED', error: `could not start on Temporal: ${String(err)}` });
    throw new StartError('temporal_unavailable', `Temporal did not accept the run: ${(err as Error).message}`);
  }
  writes.started.add({ id: executionId, runId }).catch((err: unknown) => {
    logger?.warn({ err, executionId }, 'could not mark the execution started; its run will');
  });
  return { executionId, workflowId, runId, definitionVersion: version };
}

/**
 * How long a start's run-id mark waits for other starts' marks: one update
 * for every start in that time, where each would otherwise cost its own
 * round trip and commit. A row read meanwhile says PENDING.
 */
const STARTED_MARK_LINGER_MS = 50;

/**
 * The mirror writes of plain starts, grouped per database handle: concurrent
 * starts share one insert and one update (see db/group-writer.ts). Neither
 * waits for the disk, as the run's own first mirror write makes good the loss
 * of either; the insert goes out at once, the marks linger for company.
 */
const groupWrites = new WeakMap<Kysely<Database>, { rows: GroupWriter<PendingExecutionRow>; started: GroupWriter<{ id: string; runId: string }> }>();

function groupWritesFor(db: Kysely<Database>) {
  let writes = groupWrites.get(db);
  if (!writes) {
    writes = {
      rows: new GroupWriter((rows) => insertExecutions(db, rows, { durable: false })),
      started: new GroupWriter((started) => markExecutionsStarted(db, started, { durable: false }), 100, STARTED_MARK_LINGER_MS),
    };
    groupWrites.set(db, writes);
  }
  return writes;
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

/** Checks that the definition can start now and the trigger data fits it; answers the version to pin. */
async function pinCurrentVersion(
  db: Kysely<Database>,
  definition: DefinitionRow,
  triggerData: Record<string, unknown>,
): Promise<{ version: number; document: Definition }> {
  if (!definition.enabled) {
    throw new StartError('definition_disabled', `definition "${definition.key}" is disabled; enable it before starting runs`);
  }
  const pinned = await loadPinnedVersion(db, definition, definition.current_version);
  const problems = validateTriggerData(pinned.document.inputSchema, triggerData);
  if (problems.length > 0) throw new TriggerDataError(problems);
  return pinned;
}

/**
 * Parsed definition versions by `<definition id>:<version>`. Versions never
 * change once saved, so a start reads and parses each one once per process
 * instead of on every request.
 */
const pinnedVersions = new Map<string, Definition>();
const PINNED_VERSIONS_KEPT = 500;

async function loadPinnedVersion(
  db: Kysely<Database>,
  definition: DefinitionRow,
  version: number,
): Promise<{ version: number; document: Definition }> {
  const cacheKey = `${definition.id}:${version}`;
  const cached = pinnedVersions.get(cacheKey);
  if (cached) {
    // Most recently used last, so the oldest entry is the first to go.
    pinnedVersions.delete(cacheKey);
    pinnedVersions.set(cacheKey, cached);
    return { version, document: cached };
  }
  const stored = await getDefinitionVersion(db, definition.id, version);
  if (!stored) throw new StartError('definition_version_missing', `definition "${definition.key}" has no version ${version}`);
  const parsed = parseDefinition(stored.document);
  if (!parsed.ok) {
    throw new StartError('definition_invalid', `stored definition "${definition.key}" v${version} no longer validates`);
  }
  pinnedVersions.set(cacheKey, parsed.definition);
  if (pinnedVersions.size > PINNED_VERSIONS_KEPT) pinnedVersions.delete(pinnedVersions.keys().next().value!);
  return { version, document: parsed.definition };
}

/** What every run takes from configuration when it starts. */
export function runSettings(config: Config): RunSettings {
  return {
    defaultStepTimeoutSeconds: config.workflow.defaultTimeoutSeconds,
    stepHeartbeatTimeoutSeconds: config.workflow.heartbeatTimeoutSeconds,
    databaseWaitLimitSeconds: config.workflow.databaseWaitLimitSeconds,
    continueAsNewAfterEvents: config.workflow.continueAsNewAfterEvents,
    expressionStepsInWorkflow: WORKFLOW_EXPRESSION_STEPS,
  };
}

/** The mirror row of a run not yet started; shared by every way a run begins (API, webhook, call, schedule). */
export function mirrorRow(
  definition: DefinitionRow,
  version: number,
  executionId: string,
  workflowId: string,
  triggerType: TriggerType,
  triggerData: Record<string, unknown>,
): PendingExecutionRow {
  return {
    id: executionId,
    definition_id: definition.id,
    definition_version: version,
    workflow_id: workflowId,
    status: 'PENDING',
    trigger_type: triggerType,
    trigger_data: JSON.stringify(triggerData),
    template_key: definition.template_key,
    category: definition.category,
  };
}

/** A run about to start: its definition version, ids and trigger. */
export interface RunToStart {
  definition: DefinitionRow;
  version: number;
  document: Definition;
  executionId: string;
  workflowId: string;
  triggerType: TriggerType;
  triggerData: Record<string, unknown>;
  /** The start's own deadline ({@link StartOptions.timeoutMs}). */
  timeoutMs?: number | undefined;
}

/**
 * The options every start of the interpreter workflow takes: the run input
 * (definition snapshot, trigger data, settings and env from configuration),
 * search attributes, memo and the summaries the Temporal UI shows.
 */
export function interpreterStartOptions(config: Config, run: RunToStart) {
  const { definition, version, document, executionId, workflowId, triggerType, triggerData } = run;
  const deadline = runDeadlineMs(document, run.timeoutMs);
  const input: RunInput = {
    executionId,
    definition: { id: definition.id, version, document },
    triggerType,
    triggerData,
    settings: runSettings(config),
    ...(Object.keys(config.expressionEnv).length > 0 ? { env: { ...config.expressionEnv } } : {}),
  };
  return {
    taskQueue: config.temporal.taskQueue,
    workflowId,
    args: [input] as [RunInput],
    typedSearchAttributes: [
      { key: DefinitionId, value: definition.id },
      { key: DefinitionKey, value: definition.key },
      { key: DefinitionVersion, value: version },
      { key: Category, value: definition.category },
      { key: TriggerTypeAttribute, value: triggerType },
      ...(definition.template_key ? [{ key: TemplateKey, value: definition.template_key }] : []),
    ],
    memo: { definitionName: document.name, definitionKey: definition.key, definitionVersion: version, executionId },
    staticSummary: `${document.name} (v${version})`,
    staticDetails: `Definition \`${definition.key}\` version ${version}, ${document.steps.length} top-level steps, triggered ${triggerType}. Execution ${executionId}.`,
    // The run's deadline: it ends TIMED_OUT, and the reconciler settles its mirror row.
    ...(deadline !== undefined ? { workflowExecutionTimeout: deadline } : {}),
  };
}

/**
 * The longest a start waits on Temporal's answer. An unreachable Temporal is
 * given up on much sooner (the gateway's client fails fast, see
 * src/temporal/client.ts); this bounds one that accepts connections and never
 * answers. Far above an ordinary start (milliseconds), so load alone never meets it.
 */
const START_DEADLINE_MS = 10_000;

/** Starts the interpreter workflow; answers the run id (an existing run's, for an idempotent start). */
async function startOnTemporal(client: Client, config: Config, run: RunToStart, idempotent: boolean): Promise<string> {
  const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () => client.workflow.start(INTERPRETER_WORKFLOW, {
    ...interpreterStartOptions(config, run),
    ...(idempotent
      ? {
          // A running run with this id is the one the key stands for: hand it back, start nothing.
          workflowIdConflictPolicy: 'USE_EXISTING' as const,
          // A closed one too: never a second run under the same key.
          workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
        }
      : {}),
  }));
  return handle.firstExecutionRunId;
}
