/**
 * Bundles the workflow code once, for workers started with
 * `WORKFLOW_BUNDLE_PATH` (the container image does): each worker then loads it
 * instead of bundling the same code as it starts. Build it from the release
 * the workers run, never reuse one across releases.
 *
 *   npm run build:workflows [-- <file>]     # default dist/workflow-bundle.js
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { buildWorkflowBundle } from '../src/worker/create-worker';

const target = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
await mkdir(dirname(target), { recursive: true });
await writeFile(target, await buildWorkflowBundle());
process.stdout.write(`workflow bundle written to ${target}; start workers with WORKFLOW_BUNDLE_PATH=${target}\n`);
