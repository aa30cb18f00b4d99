/**
 * What the workflow bundle holds is paid for on every run: the worker reuses
 * one V8 context but evaluates the workflow's modules anew for each workflow
 * (so runs share no module state). zod's schemas once took about a quarter of
 * the workflow thread's time this way; the bundle must not bring them back.
 * And its own code runs as written, compiled for the worker's Node.js
 * (WORKFLOW_BUNDLER_OPTIONS), not through ES2017 helpers.
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

  it('keeps object spread and class fields native, with no ES2017 helpers', async () => {
    const code = await readFile(inject('workflowBundlePath'), 'utf8');
    for (const helper of ['_object_spread', '_object_spread_props', '_define_property', '_object_without_properties']) {
      expect(code, helper).not.toContain(`function ${helper}(`);
    }
    // The interpreter's own module, as compiled: a spread SWC at ES2017 would have turned into a helper call.
    const start = code.indexOf('/***/ "./workflows/interpreter.ts"');
    const interpreter = code.slice(start, code.indexOf('/***/ "', start + 1));
    expect(interpreter).toMatch(/\{\s*\.\.\.input,\s*resume: ctx\.carryOver\(index \+ 1\)\s*\}/);
  });
});
