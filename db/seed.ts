/** Installs the template catalogue as definitions; running it again changes nothing. */
import type { Kysely } from 'kysely';
import { isDeepStrictEqual } from 'node:util';
import type { Definition } from '../src/shared/definition';
import { createDefinition, findDefinition, getDefinitionVersion, updateDefinition } from './definitions';
import type { Database } from './schema';

/** Who versions written by seeding are attributed to. */
export const SEED_AUTHOR = 'seed';

/** What seeding reads of a template (src/templates.ts): its key and its definition. */
export interface SeedTemplate {
  key: string;
  definition: Definition;
}

export interface SeedResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  /** Definitions an admin changed (or deleted) since seeding: left as they are. */
  kept: string[];
}

/**
 * Creates a definition per template, or a new version when the template
 * changed since it was seeded. A definition whose current version an admin
 * wrote is never overwritten: re-seeding keeps it and says so.
 */
export async function seedTemplates(db: Kysely<Database>, templates: readonly SeedTemplate[]): Promise<SeedResult> {
  const result: SeedResult = { created: [], updated: [], unchanged: [], kept: [] };
  for (const template of templates) {
    const existing = await findDefinition(db, template.definition.key, { includeDeleted: true });
    if (existing?.deleted_at) {
      // An admin deleted it: seeding does not bring it back.
      result.kept.push(template.key);
      continue;
    }
    if (!existing) {
      await createDefinition(db, template.definition, SEED_AUTHOR);
      result.created.push(template.key);
      continue;
    }
    const current = await getDefinitionVersion(db, existing.id, existing.current_version);
    if (current && isDeepStrictEqual(current.document, JSON.parse(JSON.stringify(template.definition)))) {
      result.unchanged.push(template.key);
      continue;
    }
    if (current && current.created_by !== SEED_AUTHOR) {
      result.kept.push(template.key);
      continue;
    }
    await updateDefinition(db, existing.id, template.definition, SEED_AUTHOR);
    result.updated.push(template.key);
  }
  return result;
}
