/**
 * Compiles the product's processes into plain JavaScript under dist/node:
 * each entry point's TypeScript and what it imports of ours, bundled (the
 * packages under node_modules stay imports). Node then starts them without a
 * TypeScript loader: a worker starts on about a third of the CPU it needed
 * through tsx, which compiles and resolves every module on the way in.
 *
 * `npm run dev`, `npm run cluster` and the tests build before they start
 * anything, so what runs is always the code beside it; the container image
 * builds as it is made (`npm run build:node`).
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { COMPILED_DIR, fromRoot, ROOT } from '../../src/paths';

/** Every process the product starts: the services, the command-line tools, the expression evaluator. */
export const ENTRY_POINTS = [
  'src/gateway/main.ts',
  'src/worker/main.ts',
  'src/cli/main.ts',
  'src/cli/database.ts',
  'src/cli/keys.ts',
  'src/cli/connections.ts',
  'src/cli/clean-logs.ts',
  'activities/expression-child.ts',
] as const;

/**
 * How a process of ours is compiled: its TypeScript and what it imports of
 * ours bundled into ES modules for Node.js; the packages are installed
 * beside the output (under dist/) and imported as they are.
 */
export const NODE_PROCESS_BUILD = {
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  logLevel: 'warning',
} as const satisfies BuildOptions;

/**
 * Builds dist/node from the source beside it, replacing what was there. The
 * build is made in a folder of its own and then put in place, so a process
 * that starts meanwhile (another `npm run dev`, a test) finds one build
 * whole, the old or the new. A build the same as the one in place is
 * dropped instead: putting it in place takes two renames, and a process
 * loading its chunks between them would find none (a test suite starting
 * workers while `npm run dev` builds the same source again).
 */
export async function buildNode(): Promise<void> {
  const fresh = `${COMPILED_DIR}.${process.pid}.new`;
  const old = `${COMPILED_DIR}.${process.pid}.old`;
  await build({
    absWorkingDir: ROOT,
    entryPoints: ENTRY_POINTS.map((entry) => fromRoot(entry)),
    outbase: ROOT,
    outdir: fresh,
    ...NODE_PROCESS_BUILD,
    // Code two entry points share is one file, loaded once per process.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    // For stack traces in source terms: node --enable-source-maps (the container image sets it).
    sourcemap: 'linked',
    sourcesContent: false,
  }).catch(async (err: unknown) => {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  });
  if (await sameTree(fresh, COMPILED_DIR)) {
    await rm(fresh, { recursive: true, force: true });
    return;
  }
  await rename(COMPILED_DIR, old).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(fresh, COMPILED_DIR);
  await rm(old, { recursive: true, force: true });
}

/** Whether two folders hold the same files with the same bytes; false when `b` is missing. */
async function sameTree(a: string, b: string): Promise<boolean> {
  const list = (dir: string) => readdir(dir, { recursive: true, withFileTypes: true }).then((entries) =>
    entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort());
  const [left, right] = await Promise.all([list(a), list(b).catch(() => undefined)]);
  if (!right || left.length !== right.length || left.some((file, i) => file !== right[i])) return false;
  for (const file of left) {
    const [x, y] = await Promise.all([readFile(join(a, file)), readFile(join(b, file))]);
    if (!x.equals(y)) return false;
  }
  return true;
}

/** buildNode(), saying so: what `npm run dev` and `npm run cluster` do before they start the product. */
export async function compileProduct(say: (line: string) => void): Promise<void> {
  const started = Date.now();
  await buildNode();
  say(`compiled the worker, the gateway and the command-line tools into dist/node in ${Date.now() - started} ms`);
}
