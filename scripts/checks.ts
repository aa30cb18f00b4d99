/**
 * The static checks `npm test` runs before the test suite: both type checks,
 * the linter, and the console's build (which the console tests serve). They
 * are independent of one another, so they run two at a time, one per core;
 * each one's output is printed whole when it ends, with its time. Exits
 * non-zero when any fails, after all have ended, so one run shows every
 * problem.
 *
 *   node --import tsx scripts/checks.ts
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

interface Check {
  name: string;
  command: string;
  args: string[];
}

/** Longest first, so the two lanes end close together (on 2 cores: the linter about 65 s, the type checks 40 s and 20 s). */
const CHECKS: Check[] = [
  { name: 'lint', command: 'eslint', args: ['.'] },
  { name: 'type check', command: 'tsc', args: ['--noEmit'] },
  { name: 'type check of the console', command: 'tsc', args: ['--noEmit', '-p', 'console'] },
  { name: 'console build', command: 'vite', args: ['build', '--config', 'console/vite.config.ts', '--logLevel', 'warn'] },
];

const LANES = 2;

interface Outcome {
  check: Check;
  code: number | null;
  output: string;
  ms: number;
}

function run(check: Check): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(join('node_modules', '.bin', check.command), check.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (err) => resolve({ check, code: 1, output: `${output}${String(err)}\n`, ms: Date.now() - started }));
    child.once('close', (code) => resolve({ check, code, output, ms: Date.now() - started }));
  });
}

async function main(): Promise<void> {
  const queue = [...CHECKS];
  const outcomes: Outcome[] = [];
  const lane = async () => {
    for (let check = queue.shift(); check; check = queue.shift()) {
      const outcome = await run(check);
      outcomes.push(outcome);
      const verdict = outcome.code === 0 ? 'passed' : `FAILED (exit ${outcome.code})`;
      process.stdout.write(`[checks] ${check.name} (${[check.command, ...check.args].join(' ')}): ${verdict} in ${(outcome.ms / 1000).toFixed(1)} s\n`);
      if (outcome.output.trim()) process.stdout.write(outcome.output.endsWith('\n') ? outcome.output : `${outcome.output}\n`);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  const failed = outcomes.filter((o) => o.code !== 0);
  if (failed.length > 0) {
    process.stdout.write(`[checks] ${failed.length} of ${CHECKS.length} failed: ${failed.map((o) => o.check.name).join(', ')}\n`);
    process.exit(1);
  }
}

await main();
