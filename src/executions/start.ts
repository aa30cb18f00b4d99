/**
 * Starting a run: pin the definition's current version, write the mirror row,
 * start the one generic workflow, and hand back the ids at once. A start
 * keyed by the caller (an Idempotency-Key, a webhook delivery) is
 * idempotent-start.ts, on the same pinning and starting.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { getDefinitionVersion } from '../../db/definitions';
import { insertExecutions, markExecutionsStarted, type PendingExecutionRow } from '../../db/execution-starts';
import { settleExecution } from '../../db/executions';
import { GroupWriter } from '../../db/group-writer';
import type { Database, DefinitionRow, ExecutionRow } from '../../db/schema';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { type Definition, parseDefinition } from '../shared/definition';
import { parseDuration } from '../shared/duration';
import { HEAVY_EXPRESSION_STEPS, WORKFLOW_EXPRESSION_STEPS } from '../shared/expressions';
import { INTERPRETER_WORKFLOW, type RunInput, type RunSettings, type TriggerType } from '../shared/run';
import {
  Category,
  DefinitionId,
  DefinitionKey,
  DefinitionVersion,
  TemplateKey,
  TriggerType as TriggerTypeAttribute,
} from '../shared/search-attributes';
import { VERSIONING_MEMO } from '../shared/versioning';
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
export function checkDeadline(document: Definition, timeoutMs: number | undefined): void {
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

/** Checks that the definition can start now and the trigger data fits it; answers the version to pin. */
export async function pinCurrentVersion(
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

export async function loadPinnedVersion(
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
    heavyExpressionStepsInWorkflow: HEAVY_EXPRESSION_STEPS,
    mirrorProgress: 'sink',
    ...(config.workflow.localReads ? { localReads: true } : {}),
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
    memo: {
      definitionName: document.name,
      definitionKey: definition.key,
      definitionVersion: version,
      executionId,
      // Read by the interpreter to declare itself pinned (workflows/versioning.ts).
      ...(document.versioning === 'pinned' ? { [VERSIONING_MEMO]: 'pinned' } : {}),
    },
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
export const START_DEADLINE_MS = 10_000;

/** Starts the interpreter workflow; answers the run id (an existing run's, for an idempotent start). */
export async function startOnTemporal(client: Client, config: Config, run: RunToStart, idempotent: boolean): Promise<string> {
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
