/**
 * The docs say what the code does, where a machine can tell: every link and
 * anchor inside the repository resolves, the API reference's route table lists
 * exactly the routes the gateway serves, and the step types the docs name are
 * the schema's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, openApiPath } from '../../src/gateway/openapi';
import { STEP_TYPES } from '../../src/shared/definition';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The lines of a markdown file outside fenced code blocks, with their numbers. */
export function proseLines(text: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) out.push({ line, number: i + 1 });
  });
  return out;
}

/**
 * GitHub's anchor for a heading: its text as rendered (code marks, emphasis
 * and link targets gone), lower-cased, punctuation dropped except `-` and `_`,
 * each space a `-`.
 */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings' slugs (repeats numbered as GitHub does) and explicit `id`/`name` anchors. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slug(heading);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const m of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** The link targets of a markdown file's prose: inline links and reference definitions. */
export function linksOf(text: string): { target: string; number: number }[] {
  const links: { target: string; number: number }[] = [];
  for (const { line, number } of proseLines(text)) {
    // Inline code may show link syntax without being a link.
    const prose = line.replace(/`[^`]*`/g, (code) => (code.includes('](') ? '' : code));
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1]!, number });
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose);
    if (definition) links.push({ target: definition[1]!, number });
  }
  return links;
}

describe('links and anchors', () => {
  it('takes anchors as GitHub makes them', () => {
    expect(slug('`POST /api/executions/bulk/reset` and `POST /api/executions/bulk/replay`')).toBe(
      'post-apiexecutionsbulkreset-and-post-apiexecutionsbulkreplay',
    );
    expect(slug('`GET /api/reports/summary`, `…/daily`, `…/steps`, `…/deliveries`')).toBe('get-apireportssummary-daily-steps-deliveries');
    expect(slug('`db_insert` and `db_update`')).toBe('db_insert-and-db_update');
    expect(slug('Behind a proxy: `TRUST_PROXY`')).toBe('behind-a-proxy-trust_proxy');
    expect(slug('When a step fails (`onError`)')).toBe('when-a-step-fails-onerror');
    expect(slug('See [the guide](x.md) — twice')).toBe('see-the-guide--twice');
    expect([...anchorsOf('# A\n```\n# not a heading\n```\n## A\n<a id="kept"></a>\n')]).toEqual(['a', 'a-1', 'kept']);
  });

  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    if (!anchors.has(file)) anchors.set(file, anchorsOf(readFileSync(file, 'utf8')));
    return anchors.get(file)!;
  };

  /** The links of `text` (the markdown file `doc`) that lead nowhere, each with its line. */
  function brokenLinks(doc: string, text: string): string[] {
    const broken: string[] = [];
    for (const { target, number } of linksOf(text)) {
      // Other sites are not ours to check.
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
      const hash = target.indexOf('#');
      const path = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
      const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const file = path === '' ? join(ROOT, doc) : resolve(join(ROOT, dirname(doc)), path.split('?')[0]!);
      const where = `${doc}:${number}: ${target}`;
      if (!existsSync(file)) broken.push(`${where} (no such file: ${relative(ROOT, file)})`);
      else if (!relative(ROOT, file) || relative(ROOT, file).startsWith('..')) broken.push(`${where} (outside the repository)`);
      else if (anchor !== undefined && file.endsWith('.md') && !anchorsIn(file).has(anchor)) broken.push(`${where} (no heading makes #${anchor})`);
    }
    return broken;
  }

  it('finds a link to a missing file or anchor', () => {
    const text = 'See [limits](#limits), [gone](#not-available-yet), [API](API_REFERENCE.md#get-apioutbox), [x](NOPE.md), [y](API_REFERENCE.md#nope).\n```\n[in code](#ignored)\n```\n';
    expect(brokenLinks('docs/USER_GUIDE.md', text)).toEqual([
      'docs/USER_GUIDE.md:1: #not-available-yet (no heading makes #not-available-yet)',
      'docs/USER_GUIDE.md:1: NOPE.md (no such file: docs/NOPE.md)',
      'docs/USER_GUIDE.md:1: API_REFERENCE.md#nope (no heading makes #nope)',
    ]);
  });

  it.each(DOCS)('%s: every link inside the repository and every anchor resolves', (doc) => {
    expect(brokenLinks(doc, read(doc))).toEqual([]);
  });
});

/**
 * The routes of the API reference's table, as `METHOD /path`: one method per
 * row, the paths in its second column, `…/rest` standing for the first path
 * with its last segments replaced.
 */
export function tableRoutes(reference: string): string[] {
  const routes: string[] = [];
  for (const line of reference.split('\n')) {
    const row = /^\| `(GET|POST|PUT|PATCH|DELETE)` \| (.*?) \|[^|]*\|\s*$/.exec(line);
    if (!row) continue;
    const paths = [...row[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const first = paths[0]!;
    for (const path of paths) {
      let full = path;
      if (path.startsWith('…/')) {
        const rest = path.slice(1);
        const segments = rest.split('/').length - 1;
        full = first.split('/').slice(0, -segments).join('/') + rest;
      }
      routes.push(`${row[1]} ${full}`);
    }
  }
  return routes;
}

/** The routes the routers declare (as test/integration/auth.test.ts collects them), in OpenAPI's path style. */
function declaredRoutes(): string[] {
  const dir = join(ROOT, 'src/gateway/routes');
  const declared: string[] = [];
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/serve\(\s*'(GET|POST|PUT|DELETE|PATCH) ([^']+)'/g)) declared.push(`${m[1]!} ${openApiPath(m[2]!)}`);
  }
  return declared.sort();
}

describe('the API reference', () => {
  const reference = read('docs/API_REFERENCE.md');

  it('reads the route table as written', () => {
    expect(tableRoutes('| `GET` | [`/api/reports/summary`, `…/daily`](#x) | y |\n| `POST` | [`/a/b/c`, `…/b/d`](#x) | y |')).toEqual([
      'GET /api/reports/summary',
      'GET /api/reports/daily',
      'POST /a/b/c',
      'POST /a/b/d',
    ]);
  });

  it('lists in its route table every route the gateway serves, and no other', () => {
    const served = declaredRoutes();
    // The OpenAPI document describes the same routes.
    expect(Object.keys(OPERATIONS).map((key) => `${key.split(' ')[0]} ${openApiPath(key.split(' ')[1]!)}`).sort()).toEqual(served);
    expect(tableRoutes(reference).sort()).toEqual(served);
  });
});

describe('step types in the docs', () => {
  const schema = [...STEP_TYPES].sort();
  const guide = read('docs/USER_GUIDE.md');
  const codeWords = (text: string) => [...text.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);

  it("are the schema's in the user guide's table of step fields", () => {
    const row = guide.split('\n').find((line) => line.startsWith('| `type` | yes |'));
    expect(row, 'the `type` row of the step fields table').toBeDefined();
    expect(codeWords(row!.split('|')[3]!).sort()).toEqual(schema);
  });

  it("are the schema's in the user guide's contents and in its step sections", () => {
    const contents = guide.split('\n').find((line) => line.startsWith('- [Steps](#steps):'));
    expect(contents, 'the Steps line of the contents').toBeDefined();
    expect(codeWords(contents!).sort()).toEqual(schema);
    const steps = guide.slice(guide.indexOf('\n## Steps\n'), guide.indexOf('\n## ', guide.indexOf('\n## Steps\n') + 1));
    const sections = steps.split('\n').filter((line) => line.startsWith('### '));
    expect(sections.flatMap(codeWords).sort()).toEqual(schema);
  });

  it("are the schema's in the API reference's error example", () => {
    const lists = [...reference().matchAll(/expected one of ([a-z_]+(?:, [a-z_]+)*)/g)].map((m) => m[1]!.split(', ').sort());
    expect(lists.length).toBeGreaterThan(0);
    for (const list of lists) expect(list).toEqual(schema);
  });

  it('are all drawn in the architecture diagram', () => {
    const architecture = read('docs/ARCHITECTURE.md');
    const diagram = architecture.slice(architecture.indexOf('```'), architecture.indexOf('```', architecture.indexOf('```') + 3));
    for (const type of STEP_TYPES) expect(diagram, type).toMatch(new RegExp(`(^|[^a-z_])${type}([^a-z_]|$)`));
  });
});

function reference(): string {
  return read('docs/API_REFERENCE.md');
}
