/** Installs the template catalogue as definitions; running it again changes nothing. */
import type { Kysely } from 'kysely';
import { isDeepStrictEqual } from 'node:util';
import type { Template } from '../src/templates';
import { createDefinition, findDefinition, getDefinitionVersion, updateDefinition } from './definitions';
import type { Database } from './schema';

export interface SeedResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/**
 * Creates a definition per template, or a new version when the template
 * changed since it was seeded. Definitions an admin edited by hand get a new
 * version too only if they still carry the template's key.
 */
export async function seedTemplates(db: Kysely<Database>, templates: Template[]): Promise<SeedResult> {
  const result: SeedResult = { created: [], updated: [], unchanged: [] };
  for (const template of templates) {
    const existing = await findDefinition(db, template.definition.key);
    if (!existing) {
      await createDefinition(db, template.definition, 'seed');
      result.created.push(template.key);
      continue;
    }
    const current = await getDefinitionVersion(db, existing.id, existing.current_version);
    if (current && isDeepStrictEqual(current.document, JSON.parse(JSON.stringify(template.definition)))) {
      result.unchanged.push(template.key);
      continue;
    }
    await updateDefinition(db, existing.id, template.definition, 'seed');
    result.updated.push(template.key);
  }
  return result;
}
