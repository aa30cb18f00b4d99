/**
 * docs/ARCHITECTURE.md's table of pieces names what the tree holds: every
 * top-level folder of code, every file directly under activities/ and every
 * file or folder directly under src/. A row names a path either in full
 * (`src/config.ts`) or, in the row of its folder, by its base name
 * (`email.ts` in the `activities/` row).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DOC = 'docs/ARCHITECTURE.md';

/** Top-level folders that hold no code of the product: dependencies, output, data, prose. */
const NOT_CODE = new Set(['node_modules', 'dist', 'coverage', 'data', 'test-results', 'docs']);

const entries = (dir: string) =>
  readdirSync(join(ROOT, dir), { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));

/** What the table must name, as `folder/` for folders and `folder/file` for files. */
function required(): string[] {
  const topLevel = entries('.').filter((e) => e.isDirectory() && !NOT_CODE.has(e.name)).map((e) => `${e.name}/`);
  const activities = entries('activities').filter((e) => e.isFile() && /\.tsx?$/.test(e.name)).map((e) => `activities/${e.name}`);
  const src = entries('src').map((e) => `src/${e.name}${e.isDirectory() ? '/' : ''}`);
  return [...topLevel, ...activities, ...src];
}

interface Row {
  /** The paths in the row's first cell, without a trailing `/`. */
  folders: string[];
  /** Every code span in the row, without a trailing `/`. */
  names: Set<string>;
}

const codeSpans = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ''));

/** The rows of the table under "## The pieces". */
export function piecesTable(markdown: string): Row[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('The pieces'));
  if (!section) return [];
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) => {
      const first = line.split('|')[1] ?? '';
      return { folders: codeSpans(first), names: new Set(codeSpans(line)) };
    });
}

/** The required paths no row names. */
export function missingFrom(rows: Row[], paths: string[]): string[] {
  return paths.filter((path) => {
    const bare = path.replace(/\/$/, '');
    const parent = posix.dirname(bare);
    const base = posix.basename(bare);
    return !rows.some((row) => row.names.has(bare) || (row.folders.includes(parent) && row.names.has(base)));
  });
}

describe(`${DOC}, the table of pieces`, () => {
  const rows = piecesTable(readFileSync(join(ROOT, DOC), 'utf8'));

  it('names every top-level folder of code, every file under activities/ and every entry under src/', () => {
    const missing = missingFrom(rows, required());
    expect(missing, `${DOC}'s table of pieces does not name: ${missing.join(', ')}`).toEqual([]);
  });

  it('names no folder that is not there', () => {
    const gone = rows.flatMap((row) => row.folders).filter((folder) => !existsSync(join(ROOT, folder)));
    expect(gone, `${DOC}'s table of pieces names folders that do not exist: ${gone.join(', ')}`).toEqual([]);
  });

  it('tells a missing file apart from one named in its folder row or in full', () => {
    const table = piecesTable(
      ['## The pieces', '| folder | what |', '|---|---|', '| `activities/` | `email.ts` |', '| `src/` | `src/cli/`, `config.ts` |'].join('\n'),
    );
    expect(missingFrom(table, ['activities/', 'activities/email.ts', 'activities/sms.ts', 'src/cli/', 'src/config.ts', 'src/email.ts', 'db/']))
      .toEqual(['activities/sms.ts', 'src/email.ts', 'db/']);
  });
});
