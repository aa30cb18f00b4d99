/**
 * Where the product's files are, the same whether this code runs from its
 * TypeScript source (through tsx) or compiled into dist/node (scripts/build.ts):
 * the compiled code is bundled into other folders than its source, so no path
 * is taken relative to the module that needs it. Paths are relative to the
 * project's root, the nearest folder above with a package.json.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function projectRoot(from: string): string {
  for (let folder = from; ; folder = dirname(folder)) {
    if (existsSync(join(folder, 'package.json'))) return folder;
    if (dirname(folder) === folder) throw new Error(`no package.json above ${from}: the product's files are not where its code is`);
  }
}

/** The project's root folder. */
export const ROOT = projectRoot(dirname(fileURLToPath(import.meta.url)));

/** Whether this process runs the compiled code in dist/node rather than the TypeScript source. */
export const COMPILED = !import.meta.url.endsWith('.ts');

/** The compiled code's folder: each entry point's source path, with `.js`, under it. */
export const COMPILED_DIR = join(ROOT, 'dist', 'node');

/** A path under the project's root. */
export function fromRoot(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/**
 * The file that runs the entry point whose source is `entry` (`src/worker/main.ts`),
 * as this process runs: the compiled file when this process runs compiled, else the source.
 */
export function entryFile(entry: string, compiled = COMPILED): string {
  return compiled ? join(COMPILED_DIR, entry.replace(/\.ts$/, '.js')) : join(ROOT, entry);
}
