/**
 * Starting a run: pin the definition's current version, write the mirror row,
 * start the one generic workflow, and hand back the ids at once.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { getDefinitionVersion } from '../../db/definitions';
import { insertExecution, markExecutionStarted, settleExecution } from '../../db/executions';
import type { Database, DefinitionRow } from '../../db/schema';
import type { Config } from '../config';
import { parseDefinition } from '../shared/definition';
import { INTERPRETER_WORKFLOW, type RunInput, type TriggerType } from '../shared/run';
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

export interface StartDeps {
  db: Kysely<Database>;
  client: Client;
  config: Config;
}

export async function startExecution(
  { db, client, config }: StartDeps,
  definition: DefinitionRow,
  triggerData: Record<string, unknown>,
  triggerType: TriggerType = 'manual',
): Promise<StartedExecution> {
  if (!definition.enabled) {
    throw new StartError('definition_disabled', `definition "${definition.key}" is disabled; enable it before starting runs`);
  }
  const version = definition.current_version;
  const stored = await getDefinitionVersion(db, definition.id, version);
  if (!stored) throw new StartError('definition_version_missing', `definition "${definition.key}" has no version ${version}`);
  const parsed = parseDefinition(stored.document);
  if (!parsed.ok) {
    throw new StartError('definition_invalid', `stored definition "${definition.key}" v${version} no longer validates`);
  }
  const document = parsed.definition;
  const problems = validateTriggerData(document.inputSchema, triggerData);
  if (problems.length > 0) throw new TriggerDataError(problems);

  const executionId = randomUUID();
  const workflowId = workflowIdFor(definition.key, executionId);
  await insertExecution(db, {
    id: executionId,
    definition_id: definition.id,
    definition_version: version,
    workflow_id: workflowId,
    run_id: null,
    status: 'PENDING',
    trigger_type: triggerType,
    trigger_data: JSON.stringify(triggerData),
    template_key: definition.template_key,
    category: definition.category,
    current_step: null,
    error: null,
    finished_at: null,
    duration_ms: null,
  });

  const input: RunInput = {
    executionId,
    definition: { id: definition.id, version, document },
    triggerType,
    triggerData,
    settings: { defaultStepTimeoutSeconds: config.workflow.defaultTimeoutSeconds },
  };
  try {
    const handle = await client.workflow.start(INTERPRETER_WORKFLOW, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [input],
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
    });
    await markExecutionStarted(db, executionId, handle.firstExecutionRunId);
    return { executionId, workflowId, runId: handle.firstExecutionRunId, definitionVersion: version };
  } catch (err) {
    await settleExecution(db, executionId, { status: 'FAILED', error: `could not start on Temporal: ${String(err)}` });
    throw new StartError('temporal_unavailable', `Temporal did not accept the run: ${(err as Error).message}`);
  }
}
