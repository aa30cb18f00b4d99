/**
 * Obtaining the Temporal CLI and running its dev server (real Temporal, SQLite
 * persistence, Web UI), for `npm run dev`, the tests and the benchmarks.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { signalGroup } from './supervisor';

const execFileAsync = promisify(execFile);

/** The CLI release we build: the newest whose go.mod lets `go install` accept it. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type Say = (line: string) => void;

async function run(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return stdout;
  } catch {
    return undefined;
  }
}

export async function goBinDir(): Promise<string | undefined> {
  const gopath = (await run('go', ['env', 'GOPATH']))?.trim();
  if (gopath) return join(gopath.split(':')[0] ?? gopath, 'bin');
  const home = process.env.HOME;
  return home ? join(home, 'go', 'bin') : undefined;
}

/** The version of `module` a Go-built binary was built from, when `go` can tell. */
export async function builtVersion(binary: string, module = 'github.com/temporalio/cli'): Promise<string | undefined> {
  const info = await run('go', ['version', '-m', binary]);
  return info?.match(new RegExp(`^\\s*mod\\s+${module.replace(/[./]/g, '\\$&')}\\s+(\\S+)`, 'm'))?.[1];
}

export async function onPath(name: string): Promise<string | undefined> {
  const found = (await run('sh', ['-c', `command -v ${name}`]))?.trim();
  return found || undefined;
}

/**
 * Finds or builds the `temporal` binary: `TEMPORAL_CLI_PATH`, then the pinned
 * build in GOPATH/bin, then `temporal` on PATH, then `go install` of the pinned
 * version. Returns `undefined` when none of these can work; callers then fall
 * back to the SDK's own download.
 */
export async function findOrBuildTemporalCli(say: Say): Promise<string | undefined> {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`TEMPORAL_CLI_PATH points to ${explicit}, which does not exist`);
    return explicit;
  }

  const binDir = await goBinDir();
  const goBuilt = binDir ? join(binDir, 'temporal') : undefined;
  if (goBuilt && existsSync(goBuilt)) {
    const version = await builtVersion(goBuilt);
    if (version === TEMPORAL_CLI_VERSION || version === undefined) return goBuilt;
    say(`found ${goBuilt} at ${version}; the pinned version is ${TEMPORAL_CLI_VERSION}`);
  }

  const pathBinary = await onPath('temporal');
  if (pathBinary) {
    say(`using temporal from PATH: ${pathBinary}`);
    return pathBinary;
  }

  if (await onPath('go')) {
    await goInstall(`${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`, `the Temporal CLI ${TEMPORAL_CLI_VERSION}`, 'about 3 minutes on 2 cores', say);
    if (goBuilt && existsSync(goBuilt)) return goBuilt;
  }
  return undefined;
}

/** `go install` of `target` (module path@version), with a progress line as packages compile; `gobin` installs elsewhere than GOPATH/bin. */
export async function goInstall(target: string, what: string, firstBuild: string, say: Say, gobin?: string): Promise<void> {
  say(`building ${what} with go install — the first build compiles for several minutes (${firstBuild}); later runs reuse it from GOPATH/bin`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('go', ['install', '-v', target], {
      env: gobin ? { ...process.env, GOBIN: gobin } : process.env,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let packages = 0;
    let lastReport = Date.now();
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      packages += chunk.split('\n').filter((l) => l && !l.startsWith('go: downloading')).length;
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        say(`  … ${packages} packages compiled, ${Math.round((Date.now() - started) / 1000)} s so far`);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`go install failed (exit ${code}):\n${tail}`));
    });
  });
  say(`built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
}

export interface DevServerOptions {
  cliPath: string;
  /** gRPC port. @default 7233 */
  port?: number;
  /** Web UI port; `undefined` with `headless` runs without the UI. @default port + 1000 */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file for persistence; in memory when absent. */
  dbFile?: string;
  /** The Web UI's remote codec endpoint (the gateway's /api/codec), so it shows encrypted payloads decoded. */
  uiCodecEndpoint?: string;
  namespace?: string;
  /** Where the server's own log goes. @default 'ignore' */
  logTo?: 'inherit' | 'ignore';
  /** Given each chunk of the server's log instead (`logTo` is then not used). */
  onOutput?: (text: string) => void;
  /**
   * More `server start-dev` flags, after {@link DEV_SERVER_TUNING}; a later
   * `--dynamic-config-value` for the same key wins (the benchmarks compare
   * server set-ups with it).
   */
  extraArgs?: readonly string[];
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  /** The server's process, where this script started one (not the SDK's download). */
  pid?: number | undefined;
  stop(): Promise<void>;
}

/**
 * Settings that matter for speed on small machines: one task-queue partition,
 * SQLite in WAL mode, and — the one that counts — the history service's
 * transfer-task polling, which at its default of 20 per second adds about
 * 30 ms between every step of a run (docs/BENCHMARKS.md measured a 40-step
 * chain at 3.1 s with the default and under 0.9 s with this).
 */
export const DEV_SERVER_TUNING = [
  '--dynamic-config-value',
  'history.transferProcessorMaxPollRPS=1000',
  '--dynamic-config-value',
  'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value',
  'matching.numTaskqueueWritePartitions=1',
  '--sqlite-pragma',
  'journal_mode=wal',
  '--sqlite-pragma',
  'synchronous=normal',
];

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? port + 1000;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', options.namespace ?? 'default'];
  args.push('--log-level', 'warn', ...DEV_SERVER_TUNING, ...(options.extraArgs ?? []));
  if (options.headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.uiCodecEndpoint && !options.headless) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFile) {
    await mkdir(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  // Its own process group: Ctrl-C reaches us, and we stop the server only
  // after the workers that use it have drained.
  const logTo = options.onOutput ? 'pipe' : (options.logTo ?? 'ignore');
  const child = spawn(options.cliPath, args, { stdio: ['ignore', logTo, logTo], detached: true });
  if (options.onOutput) {
    const output = options.onOutput;
    child.stdout?.on('data', (chunk: Buffer) => output(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output(chunk.toString()));
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${port}`;
  try {
    await waitForTemporal(address, exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    uiUrl: options.headless ? undefined : `http://localhost:${uiPort}`,
    pid: child.pid,
    stop: () => stopChild(child, exited),
  };
}

async function waitForTemporal(address: string, exited: Promise<number | null>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead: number | null | undefined;
  void exited.then((code) => {
    dead = code;
  });
  for (;;) {
    if (dead !== undefined) {
      throw new Error(`the Temporal dev server exited with code ${dead} before it was ready (is port ${address} taken?)`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the Temporal dev server at ${address} was not ready within ${timeoutMs / 1000} s: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Stops a child that leads its own process group, with the group; SIGKILL after 5 s. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const pid = child.pid;
  signalGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a dev server by whatever means this machine has: a local binary, or
 * the SDK's download of the same CLI. Throws with what to install otherwise.
 */
export async function startTemporal(options: Omit<DevServerOptions, 'cliPath'>, say: Say): Promise<DevServer> {
  const cliPath = await findOrBuildTemporalCli(say).catch((err: unknown) => {
    say(`could not build the Temporal CLI: ${String(err)}`);
    return undefined;
  });
  if (cliPath) return startDevServer({ ...options, cliPath });

  say('no Temporal CLI and no Go toolchain here; trying the Temporal SDK download of the dev server');
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download' },
        ip: '127.0.0.1',
        port: options.port,
        ui: !options.headless,
        uiPort: options.uiPort,
        dbFilename: options.dbFile,
        extraArgs: [...DEV_SERVER_TUNING, ...(options.extraArgs ?? [])],
      },
    });
    const address = env.address;
    return {
      address,
      uiUrl: options.headless ? undefined : `http://localhost:${options.uiPort ?? (options.port ?? 7233) + 1000}`,
      stop: () => env.teardown(),
    };
  } catch (err) {
    throw new Error(
      'could not obtain a Temporal server. Install one of: Go (then this script builds the CLI), ' +
        `the Temporal CLI on PATH (https://docs.temporal.io/cli), or set TEMPORAL_ADDRESS to a running server. Cause: ${String(err)}`,
    );
  }
}
