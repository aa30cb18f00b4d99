/**
 * Save-time checks of `call` steps: each names a definition that exists, and
 * no chain of calls leads back to the definition being saved (a cycle would
 * start child workflows without end).
 */
import type { Kysely } from 'kysely';
import { findDefinition, getDefinitionVersion } from '../../db/definitions';
import type { Database } from '../../db/schema';
import { childStepLists, type Definition, type DefinitionProblem, parseDefinition, type Step } from '../shared/definition';

function callsIn(steps: Step[], path: (string | number)[] = ['steps']): { key: string; path: (string | number)[] }[] {
  return steps.flatMap((step, index) => {
    const at = [...path, index];
    const own = step.type === 'call' ? [{ key: step.definition, path: [...at, 'definition'] }] : [];
    return [...own, ...childStepLists(step).flatMap((child) => callsIn(child.steps, [...at, ...child.path]))];
  });
}

async function calledKeys(db: Kysely<Database>, key: string): Promise<string[] | undefined> {
  const row = await findDefinition(db, key);
  if (!row) return undefined;
  const stored = await getDefinitionVersion(db, row.id, row.current_version);
  const parsed = parseDefinition(stored?.document);
  return parsed.ok ? callsIn(parsed.definition.steps).map((c) => c.key) : [];
}

export async function checkCalls(db: Kysely<Database>, definition: Definition): Promise<DefinitionProblem[]> {
  const problems: DefinitionProblem[] = [];
  for (const call of callsIn(definition.steps)) {
    if (call.key === definition.key) {
      problems.push({ path: call.path, message: `calls its own definition "${call.key}": a cycle` });
      continue;
    }
    if (!(await calledKeys(db, call.key))) {
      problems.push({ path: call.path, message: `no definition has key "${call.key}"` });
      continue;
    }
    // Walk what the called definition calls, looking for a way back.
    const seen = new Set<string>();
    const queue: string[][] = [[call.key]];
    while (queue.length > 0) {
      const chain = queue.shift()!;
      const last = chain[chain.length - 1]!;
      if (seen.has(last)) continue;
      seen.add(last);
      for (const next of (await calledKeys(db, last)) ?? []) {
        if (next === definition.key) {
          problems.push({ path: call.path, message: `calls back to "${definition.key}": ${[definition.key, ...chain, next].join(' → ')}` });
          queue.length = 0;
          break;
        }
        queue.push([...chain, next]);
      }
    }
  }
  return problems;
}
