/**
 * The static checks: both type checks, the linter, and the console's build
 * (which the console tests serve). Each runs as a process of its own; its
 * output is kept and printed whole when it ends, with its time, so checks
 * that run at once, or beside the test suite, do not interleave their lines.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Check {
  name: string;
  command: string;
  args: string[];
}

export const CONSOLE_BUILD: Check = { name: 'console build', command: 'vite', args: ['build', '--config', 'console/vite.config.ts', '--logLevel', 'warn'] };

/** Longest first, so lanes end close together (on 2 cores, alone: the linter about 65 s, the type checks 40 s and 20 s). */
export const STATIC_CHECKS: Check[] = [
  { name: 'lint', command: 'eslint', args: ['.'] },
  { name: 'type check', command: 'tsc', args: ['--noEmit'] },
  { name: 'type check of the console', command: 'tsc', args: ['--noEmit', '-p', 'console'] },
];

export interface Outcome {
  check: Check;
  code: number | null;
  output: string;
  ms: number;
}

export interface RunChecksOptions {
  /** How many run at once. */
  lanes: number;
  /** CPU priority (nice value, 0–19) of every check; 0 is the caller's. @default 0 */
  nice?: number;
  /** Told each outcome as it ends. */
  onOutcome?: (outcome: Outcome) => void;
}

/** `nice` of coreutils or BusyBox, where there is one. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((path) => existsSync(path));

function run(check: Check, nice: number): Promise<Outcome> {
  const started = Date.now();
  const bin = join('node_modules', '.bin', check.command);
  const [command, args] = nice > 0 && NICE ? [NICE, ['-n', String(nice), bin, ...check.args]] : [bin, check.args];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (err) => resolve({ check, code: 1, output: `${output}${String(err)}\n`, ms: Date.now() - started }));
    child.once('close', (code) => resolve({ check, code, output, ms: Date.now() - started }));
  });
}

/** Runs the checks, `lanes` at a time; resolves when all have ended, whatever they found. */
export async function runChecks(checks: readonly Check[], { lanes, nice = 0, onOutcome }: RunChecksOptions): Promise<Outcome[]> {
  const queue = [...checks];
  const outcomes: Outcome[] = [];
  const lane = async () => {
    for (let check = queue.shift(); check; check = queue.shift()) {
      const outcome = await run(check, nice);
      outcomes.push(outcome);
      onOutcome?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return outcomes;
}

/** One check's verdict, its time, and its output when it printed any. */
export function describeOutcome({ check, code, output, ms }: Outcome): string {
  const verdict = code === 0 ? 'passed' : `FAILED (exit ${code})`;
  const head = `[checks] ${check.name} (${[check.command, ...check.args].join(' ')}): ${verdict} in ${(ms / 1000).toFixed(1)} s\n`;
  if (!output.trim()) return head;
  return head + (output.endsWith('\n') ? output : `${output}\n`);
}

/** The failed checks, said in one line; empty when all passed. */
export function summarizeFailures(outcomes: readonly Outcome[]): string {
  const failed = outcomes.filter((o) => o.code !== 0);
  if (failed.length === 0) return '';
  return `[checks] ${failed.length} of ${outcomes.length} failed: ${failed.map((o) => o.check.name).join(', ')}\n`;
}
