/**
 * dist/node is rebuilt by every `npm run dev`, `npm run cluster` and test
 * run, while other processes may be starting from it (the suite starts
 * workers while its `npm run dev` test builds): a build of the same source
 * must leave the one in place alone, never a moment without it.
 */
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildNode } from '../../scripts/lib/compile';
import { COMPILED_DIR } from '../../src/paths';

describe('buildNode', () => {
  it('leaves the build in place when the source has not changed', async () => {
    await buildNode();
    const before = await stat(COMPILED_DIR);
    await buildNode();
    const after = await stat(COMPILED_DIR);
    // The same folder, not one renamed into its place.
    expect(after.ino).toBe(before.ino);
    expect(after.birthtimeMs).toBe(before.birthtimeMs);
  }, 60_000);
});
