/**
 * What the workflow bundle holds is paid for on every run: the worker reuses
 * one V8 context but evaluates the workflow's modules anew for each workflow
 * (so runs share no module state). zod's schemas once took about a quarter of
 * the workflow thread's time this way; the bundle must not bring them back.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, inject, it } from 'vitest';

describe('the workflow bundle', () => {
  it('leaves out the definition schemas and zod', async () => {
    const code = await readFile(inject('workflowBundlePath'), 'utf8');
    // Webpack names each module it bundles by its path.
    const modules = [...code.matchAll(/^\/\*\*\*\/ "(\.\/[^"]+)"/gm)].map((m) => m[1]);
    expect(modules.length).toBeGreaterThan(10);
    expect(modules).toContain('./workflows/interpreter.ts');
    expect(modules).toContain('./src/shared/step-tree.ts');
    expect(modules.filter((m) => m!.includes('node_modules/zod/') || m === './src/shared/definition.ts')).toEqual([]);
  });
});
