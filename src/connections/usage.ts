/**
 * Where definitions name connections: the save-time check that each named
 * connection exists and is of the step's type, and the definitions whose
 * current version names a connection (a delete is refused while any does).
 */
import type { Kysely } from 'kysely';
import { connectionTypes, currentDocumentsNamingConnections } from '../../db/connections';
import type { Database } from '../../db/schema';
import { connectionTypeForStep } from '../../channels/connections';
import { childStepLists, type Definition, type DefinitionProblem, parseDefinition, type Step } from '../shared/definition';

/** A step naming a connection, with the JSON path of its `connection` field. */
export interface ConnectionReference {
  connection: string;
  stepType: string;
  path: (string | number)[];
}

export function connectionsNamedIn(steps: Step[], path: (string | number)[] = ['steps']): ConnectionReference[] {
  return steps.flatMap((step, index) => {
    const at = [...path, index];
    const named = 'connection' in step && typeof step.connection === 'string' ? step.connection : undefined;
    const own = named ? [{ connection: named, stepType: step.type, path: [...at, 'connection'] }] : [];
    return [...own, ...childStepLists(step).flatMap((child) => connectionsNamedIn(child.steps, [...at, ...child.path]))];
  });
}

/** Each step's connection exists and is of the type its step takes. */
export async function checkConnections(db: Kysely<Database>, definition: Definition): Promise<DefinitionProblem[]> {
  const references = connectionsNamedIn(definition.steps);
  const types = await connectionTypes(db, [...new Set(references.map((r) => r.connection))]);
  return references.flatMap((ref): DefinitionProblem[] => {
    const type = types.get(ref.connection);
    const wanted = connectionTypeForStep(ref.stepType);
    if (type === undefined) return [{ path: ref.path, message: `no connection is named "${ref.connection}"` }];
    if (type !== wanted) return [{ path: ref.path, message: `connection "${ref.connection}" is of type ${type}; a ${ref.stepType} step takes a ${wanted ?? 'no'} connection` }];
    return [];
  });
}

/** A definition's current version naming a connection. */
export interface ConnectionUse {
  definition: string;
  version: number;
  /** The JSON path of the step's `connection` field, e.g. `$.steps[2].connection`. */
  step: (string | number)[];
}

/** Where each connection is named by the current version of a definition, by connection name. */
export async function connectionUses(db: Kysely<Database>): Promise<Map<string, ConnectionUse[]>> {
  const uses = new Map<string, ConnectionUse[]>();
  for (const row of await currentDocumentsNamingConnections(db)) {
    const parsed = parseDefinition(row.document);
    if (!parsed.ok) continue;
    for (const ref of connectionsNamedIn(parsed.definition.steps)) {
      const list = uses.get(ref.connection) ?? [];
      list.push({ definition: row.key, version: row.version, step: ref.path });
      uses.set(ref.connection, list);
    }
  }
  return uses;
}
