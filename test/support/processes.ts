/**
 * The product's entry points as processes of their own, for tests that kill
 * them or use them as a user would: Node itself on the compiled product
 * (dist/node, which the suite's set-up builds from the code under test), so
 * a SIGKILL reaches the process that runs the worker or gateway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { inject } from 'vitest';
import { entryFile } from '../../src/paths';
import { eventually, type Harness } from './harness';

/** Node's arguments that run the entry point whose source is `entry` (`src/cli/main.ts`), compiled, followed by `args`. */
export function productCommand(entry: string, ...args: string[]): string[] {
  return [entryFile(entry, true), ...args];
}

/**
 * The environment of a product process in a harness's world (its database,
 * Temporal and task queue), with `extra`. Workers load the suite's workflow
 * bundle rather than bundling the same code again as each starts
 * (processes.test.ts starts them as `npm run dev` does, bundling).
 */
export function harnessEnvironment(h: Harness, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: h.databaseUrl,
    ...inject('temporalEnv'),
    TEMPORAL_ADDRESS: h.config.temporal.address,
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    LOG_LEVEL: 'info',
    NODE_ENV: 'test',
    ...extra,
  };
}

export interface ProductProcesses {
  /** Starts `entry` with `env` and waits until it is ready: a worker polls, a gateway answers `/livez` at `PORT`. */
  start(entry: 'src/worker/main.ts' | 'src/gateway/main.ts', env: NodeJS.ProcessEnv): Promise<ChildProcess>;
  /** SIGKILLs one and waits for its exit. */
  kill(child: ChildProcess): Promise<void>;
  /** SIGKILLs every one still running, and waits until they have exited. */
  killAll(): Promise<void>;
  /** What they printed, for failure messages. */
  output(): string;
}

export function productProcesses(): ProductProcesses {
  const children: ChildProcess[] = [];
  const printed: string[] = [];
  return {
    async start(entry, env) {
      const child = spawn(process.execPath, productCommand(entry), { env, stdio: ['ignore', 'pipe', 'pipe'] });
      // Its own output, for a message about it; `printed` keeps everyone's.
      const own: string[] = [];
      let polling = false;
      child.stdout?.on('data', (c: Buffer) => {
        printed.push(c.toString());
        own.push(c.toString());
        if (c.toString().includes('worker polling')) polling = true;
      });
      child.stderr?.on('data', (c: Buffer) => {
        printed.push(c.toString());
        own.push(c.toString());
      });
      children.push(child);
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code, signal) =>
          reject(new Error(`${entry} exited (${signal ?? `code ${code}`}) before it was ready; its output: ${own.join('').slice(-3000) || 'none'}`)),
        ),
      );
      exited.catch(() => undefined);
      const ready =
        entry === 'src/worker/main.ts'
          ? async () => polling
          : () =>
              fetch(`http://127.0.0.1:${env.PORT}/livez`)
                .then((r) => r.ok)
                .catch(() => false);
      const readied = eventually(async () => ((await ready()) ? true : undefined), 90_000, `${entry} to be ready`).catch((err: unknown) => {
        throw new Error(`${String(err)}; its output: ${own.join('').slice(-3000) || 'none'}`);
      });
      await Promise.race([readied, exited]);
      return child;
    },
    async kill(child) {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    },
    async killAll() {
      const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
      await Promise.all(running.map((child) => new Promise((r) => (child.once('exit', r), child.kill('SIGKILL')))));
    },
    output: () => printed.join(''),
  };
}
