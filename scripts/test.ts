/**
 * `npm test`: the console's build (the browser tests serve it), then the test
 * suite and the static checks at once. The checks run at a low CPU priority
 * (nice 10), so the suite starts at once instead of after a minute and a half
 * of checks, and keeps the CPU when both want it (on 2 cores it mostly does:
 * docs/TESTING.md has the measured runs). Their output is printed after the
 * suite's. Exits non-zero when the suite or any check failed.
 *
 * The suite runs on the Node.js that runs this, all but its integration core
 * (the `core` project), which runs after it on the production image's
 * Node.js LTS (scripts/lts-node.mjs installs it from the npm registry): so
 * both releases are tested, and the core's files run once. Given filters or
 * options, vitest runs them as given, on this Node.js.
 *
 *   node --import tsx scripts/test.ts [vitest filters and options]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CONSOLE_BUILD, describeOutcome, runChecks, STATIC_CHECKS, summarizeFailures } from './lib/checks';

/** Below the suite's processes: a check still runs as fast as alone where the CPU is free. */
const CHECKS_PRIORITY = 10;

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.once('error', (err) => {
      process.stderr.write(`[test] could not start ${command}: ${err.message}\n`);
      resolve(1);
    });
    child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const vitest = (args: string[]) => run(join('node_modules', '.bin', 'vitest'), ['run', ...args]);

/** The suite: all of it on this Node.js but the core, then the core on the LTS where the registry has a build of it. */
async function suite(args: string[]): Promise<number> {
  if (args.length > 0) return vitest(args);
  const rest = await vitest(['--project', '!core']);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    process.stdout.write(`[test] the core tests on this Node.js (${process.version}): the registry's LTS build is for Linux on x64\n`);
    return (await vitest(['--project', 'core'])) || rest;
  }
  return (await run(process.execPath, [join('scripts', 'lts-node.mjs')])) || rest;
}

const [build] = await runChecks([CONSOLE_BUILD], { lanes: 1 });
if (build!.code !== 0) {
  process.stdout.write(describeOutcome(build!));
  process.exit(1);
}

const checks = runChecks(STATIC_CHECKS, { lanes: 2, nice: CHECKS_PRIORITY });
const suiteCode = await suite(process.argv.slice(2));
process.stdout.write('[checks] the static checks, which ran beside the suite:\n');
const outcomes = await checks;
for (const outcome of outcomes) process.stdout.write(describeOutcome(outcome));
const failures = summarizeFailures([build!, ...outcomes]);
if (failures) process.stdout.write(failures);
process.exit(suiteCode !== 0 || failures ? 1 : 0);
