/**
 * The template catalogue: `templates/<key>.json`, each a ready definition with
 * example trigger data. Seeding installs them as definitions.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type Definition, parseDefinition } from './shared/definition';
import { jsonPath } from './shared/json-path';
import { fromRoot } from './paths';

export const TEMPLATES_DIR = fromRoot('templates');

const templateFile = z.object({
  template: z.object({
    key: z.string().min(1),
    name: z.string().min(1),
    description: z.string(),
    category: z.string().min(1),
  }),
  exampleTriggerData: z.record(z.string(), z.unknown()),
  definition: z.unknown(),
});

export interface Template {
  key: string;
  name: string;
  description: string;
  category: string;
  exampleTriggerData: Record<string, unknown>;
  definition: Definition;
}

/** Loads and validates every template; a broken file is an error naming the file and the problem. */
export async function loadTemplates(dir = TEMPLATES_DIR): Promise<Template[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const raw: unknown = JSON.parse(await readFile(join(dir, file), 'utf8'));
      const shape = templateFile.safeParse(raw);
      if (!shape.success) throw new Error(`templates/${file}: ${shape.error.issues.map((i) => `${jsonPath(i.path)} ${i.message}`).join('; ')}`);
      const parsed = parseDefinition(shape.data.definition);
      if (!parsed.ok) {
        throw new Error(`templates/${file}: ${parsed.problems.map((p) => `${jsonPath(['definition', ...p.path])} ${p.message}`).join('; ')}`);
      }
      return { ...shape.data.template, exampleTriggerData: shape.data.exampleTriggerData, definition: parsed.definition };
    }),
  );
}
