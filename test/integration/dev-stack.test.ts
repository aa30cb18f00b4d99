/**
 * `npm run dev` as a newcomer runs it, on free ports against the suite's
 * Temporal and Postgres: it comes up, the signed webhook it prints starts a
 * run when pasted into a shell, and SIGINT, SIGTERM or SIGHUP sent to npm's
 * own process stops everything it started within 10 s, freeing its ports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ensureDatabase } from '../../scripts/lib/postgres';
import { freePort, isPortTaken } from '../../scripts/lib/ports';
import { isAlive } from '../../scripts/lib/supervisor';
import { eventually } from '../support/harness';

/** The stacks these tests started: any still running after a failure is stopped, its group with it. */
const started: ChildProcess[] = [];

afterAll(async () => {
  // SIGTERM, not SIGKILL: the script stops the worker and gateway, which run in process groups of their own.
  const running = started.filter((child) => child.pid && child.exitCode === null && child.signalCode === null);
  for (const child of running) process.kill(-child.pid!, 'SIGTERM');
  await Promise.all(running.map((child) => new Promise((resolve) => child.once('exit', resolve))));
});

interface RunningDev {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  port: number;
  smtpPort: number;
}

/**
 * `npm run dev` on a free port and a database of its own, once it says it is
 * ready; with `env` added to what it inherits.
 */
async function startDev(env: Record<string, string> = {}): Promise<RunningDev> {
  const database = new URL(inject('postgresUrl'));
  database.pathname = `/wfa_test_dev_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await ensureDatabase(database.toString());
  const port = await freePort();
  let output = '';
  const child = spawn('npm', ['run', 'dev'], {
    env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), DATABASE_URL: database.toString(), PORT: String(port), NODE_ENV: 'development', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // Bootstrap, migrations, the console's build: minutes on a loaded machine.
  // Ready, or gone: a stack that cannot start says why and exits, and the test ends with its words.
  const ready = eventually(async () => (output.includes('Ctrl-C stops everything started here.') ? true : undefined), 300_000, 'npm run dev to be ready');
  const gone = exited.then((code) => Promise.reject(new Error(`npm run dev exited (${code ?? child.signalCode}) before it was ready`)));
  await Promise.race([ready, gone]).catch((err: unknown) => {
    throw new Error(`${String(err)}; it printed:\n${output.slice(-3000)}`);
  });
  const smtpPort = Number(/emails go to a local catcher on port (\d+)/.exec(output)?.[1]);
  return { child, output: () => output, exited, port, smtpPort };
}

/**
 * Signals npm's own process, and checks that everything stopped within 10 s,
 * ports freed. npm forwards SIGINT and SIGTERM and exits 0 after the stack;
 * it dies of SIGHUP itself, and the stack stops on seeing it gone.
 */
async function stopWith(dev: RunningDev, signal: NodeJS.Signals): Promise<void> {
  const signalled = Date.now();
  process.kill(dev.child.pid!, signal);
  const code = await dev.exited;
  if (signal !== 'SIGHUP') expect(code).toBe(0);
  await eventually(async () => (/\[dev\] stopped\n/.test(dev.output()) ? true : undefined), 10_000, `npm run dev to stop on ${signal}`);
  expect(Date.now() - signalled).toBeLessThan(10_000);
  for (const p of [dev.port, dev.smtpPort]) expect(await isPortTaken(p), `port ${p}`).toBe(false);
  const stopped = [...dev.output().matchAll(/stopped (?:worker|gateway) \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  expect(stopped).toHaveLength(2);
  for (const pid of stopped) expect(isAlive(pid), `pid ${pid}`).toBe(false);
}

describe('npm run dev', () => {
  it('starts, takes the signed webhook it prints, and stops whole on SIGINT to npm', { timeout: 400_000 }, async () => {
    const dev = await startDev();
    expect(dev.output()).toMatch(/Webhook secret whsec_\S+ {2}\(development, kept in data\/webhook-secret\)/);

    // The printed lines, pasted as they are.
    const lines = dev.output().split('\n');
    const from = lines.findIndex((l) => l.includes('Start a sample run from a signed webhook'));
    const pasted = lines.slice(from + 1, from + 5).join('\n');
    const answer = await new Promise<string>((resolve, reject) => {
      const shell = spawn('bash', ['-c', pasted]);
      let out = '';
      shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
      shell.once('error', reject);
      shell.once('exit', () => resolve(out));
    });
    expect(JSON.parse(answer)).toMatchObject({ idempotentReplay: false, status: 'RUNNING' });
    // The run sends its email to the catcher, which prints its subject decoded.
    await eventually(async () => (/✉ {2}email to ada\.lovelace@example\.com: Welcome aboard, Ada!/.test(dev.output()) ? true : undefined), 60_000, 'the email');

    await stopWith(dev, 'SIGINT');
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)('stops whole on %s to npm', { timeout: 400_000 }, async (signal) => {
    // How it stops is the point here: its worker loads the suite's workflow bundle rather than bundling the code again.
    await stopWith(await startDev({ WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath') }), signal);
  });
});
