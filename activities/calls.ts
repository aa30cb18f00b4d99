/**
 * The activity side of the `call` step: pins the called definition's current
 * version, checks the child's trigger data against its input schema, and
 * writes the child's own mirror row (idempotently, by its workflow id).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { findDefinition, getDefinitionVersion } from '../db/definitions';
import { insertExecutionOnce } from '../db/executions';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import { validateTriggerData } from '../src/executions/input-schema';
import { mirrorRow, runSettings } from '../src/executions/start';
import { parseDefinition } from '../src/shared/definition';
import type { PreparedCall } from '../src/shared/run';
import { needsDatabase, permanent } from './failures';

export interface PrepareCallInput {
  definitionKey: string;
  /** The child's workflow id, fixed by the calling workflow so a retry finds the same row. */
  workflowId: string;
  triggerData: Record<string, unknown>;
  /** How the run was triggered. @default 'call' */
  triggerType?: 'call' | 'schedule' | undefined;
  /** The run's own id when the run prepares itself (a scheduled run). */
  runId?: string | undefined;
}

export function createCallActivities(db: Kysely<Database>, config: Config) {
  return {
    prepareCall(input: PrepareCallInput): Promise<PreparedCall> {
      return needsDatabase(`calling "${input.definitionKey}"`, () => prepare(input));
    },
  };

  async function prepare(input: PrepareCallInput): Promise<PreparedCall> {
    const definition = await findDefinition(db, input.definitionKey);
    if (!definition) throw permanent('ProviderRejected', `call: no definition has key "${input.definitionKey}"`);
    if (!definition.enabled) throw permanent('ProviderRejected', `call: definition "${definition.key}" is disabled`);
    const stored = await getDefinitionVersion(db, definition.id, definition.current_version);
    const parsed = parseDefinition(stored?.document);
    if (!stored || !parsed.ok) {
      throw permanent('ProviderRejected', `call: definition "${definition.key}" v${definition.current_version} does not validate`);
    }
    const problems = validateTriggerData(parsed.definition.inputSchema, input.triggerData);
    if (problems.length > 0) {
      throw permanent(
        'ProviderRejected',
        `call: input for "${definition.key}" does not match its input schema: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      );
    }
    const fresh = mirrorRow(definition, definition.current_version, randomUUID(), input.workflowId, input.triggerType ?? 'call', input.triggerData);
    const { row } = await insertExecutionOnce(db, {
      ...fresh,
      // A scheduled run prepares itself: it is already running.
      ...(input.runId ? { run_id: input.runId, status: 'RUNNING' } : {}),
    });
    const pinned = await getDefinitionVersion(db, definition.id, row.definition_version);
    const document = parseDefinition(pinned?.document);
    if (!document.ok) throw permanent('ProviderRejected', `call: definition "${definition.key}" v${row.definition_version} does not validate`);
    return {
      executionId: row.id,
      definition: { id: definition.id, version: row.definition_version, document: document.definition },
      templateKey: row.template_key,
      category: row.category,
      settings: runSettings(config),
      ...(Object.keys(config.expressionEnv).length > 0 ? { env: { ...config.expressionEnv } } : {}),
    };
  }
}
