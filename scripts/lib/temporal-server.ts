/**
 * A real Temporal server (not the CLI's dev server), as production runs it:
 * persistence and advanced visibility on Postgres, its schemas applied with
 * `temporal-sql-tool`, its configuration the checked-in
 * deploy/temporal/config/cluster.yaml. Both binaries are built from the Go
 * module proxy and cached in GOPATH/bin, like the CLI.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Connection, type TLSConfig } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pg from 'pg';
import { isPortTaken } from './ports';
import type { ServerCertificates } from './certificates';
import { RecentLines } from './postgres';
import { signalGroup } from './supervisor';
import { builtVersion, goBinDir, goInstall, onPath, type Say } from './temporal';

const execFileAsync = promisify(execFile);

export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const CONFIG_TEMPLATE = resolve('deploy/temporal/config/cluster.yaml');
const DYNAMIC_CONFIG = resolve('deploy/temporal/dynamic-config.yaml');

export interface ServerBinaries {
  server: string;
  sqlTool: string;
  /** The server module's Postgres schemas (`temporal/versioned`, `visibility/versioned`). */
  schemaDir: string;
}

/**
 * Finds or builds `server` and `temporal-sql-tool` (installed by `go install`
 * as `sql`) at the pinned version, and the schema files of the same module
 * in the Go module cache.
 */
export async function findOrBuildTemporalServer(say: Say): Promise<ServerBinaries> {
  if (!(await onPath('go'))) {
    throw new Error(
      `the Temporal server is built with Go, which is not installed: install Go 1.24 or newer (https://go.dev/dl), then run this again`,
    );
  }
  const binDir = await goBinDir();
  if (!binDir) throw new Error('cannot tell where go install puts binaries: set GOPATH');
  const binaries: [string, string, string][] = [
    ['server', `${TEMPORAL_SERVER_MODULE}/cmd/server`, 'about 2 minutes on 2 cores'],
    ['sql', `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql`, 'seconds once the server is built'],
  ];
  for (const [name, path, firstBuild] of binaries) {
    const binary = join(binDir, name);
    if (existsSync(binary) && (await builtVersion(binary, TEMPORAL_SERVER_MODULE)) === TEMPORAL_SERVER_VERSION) continue;
    await goInstall(`${path}@${TEMPORAL_SERVER_VERSION}`, `the Temporal ${name === 'sql' ? 'SQL tool' : 'server'} ${TEMPORAL_SERVER_VERSION}`, firstBuild, say);
  }
  const { stdout } = await execFileAsync('go', ['env', 'GOMODCACHE']);
  const schemaDir = join(stdout.trim(), `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  if (!existsSync(schemaDir)) throw new Error(`the server's Postgres schemas are missing from the Go module cache (${schemaDir}): run go clean -modcache, then this again`);
  return { server: join(binDir, 'server'), sqlTool: join(binDir, 'sql'), schemaDir };
}

export interface ServerDatabases {
  /** A Postgres URL of the server to hold both databases; its path is ignored. */
  postgresUrl: string;
  /** @default 'temporal' */
  main?: string;
  /** @default 'temporal_visibility' */
  visibility?: string;
}

function connectionOf(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password) };
}

/**
 * Creates the two databases and applies their schemas, idempotently: a
 * database that exists is kept, a schema already set up is only updated to
 * the newest version the tool knows.
 */
export async function setupTemporalDatabases(binaries: ServerBinaries, databases: ServerDatabases, say: Say): Promise<void> {
  const { host, port, user, password } = connectionOf(databases.postgresUrl);
  const names = { temporal: databases.main ?? 'temporal', visibility: databases.visibility ?? 'temporal_visibility' };
  for (const [schema, database] of Object.entries(names)) {
    const tool = (...args: string[]) =>
      execFileAsync(binaries.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', port, '-u', user, '--pw', password, '--db', database, ...args], {
        timeout: 120_000,
      }).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${err.stderr?.trim().split('\n').at(-1) ?? err.message}`);
      });
    await tool('create-database');
    if (!(await hasSchemaVersion(databases.postgresUrl, database))) await tool('setup-schema', '-v', '0.0');
    await tool('update-schema', '-d', join(binaries.schemaDir, schema, 'versioned'));
    say(`Temporal database ${database}: schema ${schema} up to date`);
  }
}

async function hasSchemaVersion(postgresUrl: string, database: string): Promise<boolean> {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ found: boolean }>(`select to_regclass('public.schema_version') is not null as found`);
    return rows[0]?.found ?? false;
  } finally {
    await client.end();
  }
}

export interface TemporalServerOptions extends ServerDatabases {
  /** Frontend gRPC port; the other services take ports after it (see the config file). @default 7233 */
  port?: number;
  /** Where the rendered configuration is kept. */
  dataDir: string;
  /** Where the server's log goes. @default 'ignore' */
  logTo?: 'inherit' | 'ignore';
  /** Given each chunk of the server's output, unless `logTo` is `'inherit'`. */
  onOutput?: (text: string) => void;
  /**
   * mTLS on the frontend: it presents `serverCert` and takes only clients
   * whose certificate `ca` signed; its own system worker presents `clientCert`.
   * @default plain connections
   */
  tls?: ServerCertificates;
}

/** How to reach a server: its frontend's address, and the TLS a client needs there. */
export interface ServerEndpoint {
  address: string;
  /** The CA and a client certificate, when the frontend takes mTLS only. */
  tls?: TLSConfig;
}

export interface TemporalServer extends ServerEndpoint {
  pid: number | undefined;
  /** Whether the server process is still running. */
  running(): boolean;
  stop(): Promise<void>;
}

/** The ports the server takes besides the frontend's (see deploy/temporal/config/cluster.yaml). */
const SERVER_PORT_OFFSETS = [0, 1, 2, 6, 10, -600, -599, -598, -594];

/**
 * A frontend port whose companion ports are free too, for a server apart from
 * any other. Below 32768: the server stores membership ports as smallint.
 */
export async function freeServerPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const taken = await Promise.all(SERVER_PORT_OFFSETS.map((offset) => isPortTaken(port + offset)));
    if (!taken.some(Boolean)) return port;
  }
  throw new Error('found no free set of ports for a Temporal server in 50 tries');
}

/** Starts the server on the databases set up by {@link setupTemporalDatabases} and waits until its frontend answers. */
export async function startTemporalServer(binaries: ServerBinaries, options: TemporalServerOptions, say: Say): Promise<TemporalServer> {
  const port = options.port ?? 7233;
  const { host, port: pgPort, user, password } = connectionOf(options.postgresUrl);
  const configDir = join(options.dataDir, 'config');
  await mkdir(configDir, { recursive: true });
  await copyFile(CONFIG_TEMPLATE, join(configDir, 'cluster.yaml'));
  const env = {
    ...process.env,
    TEMPORAL_PORT: String(port),
    TEMPORAL_DB: options.main ?? 'temporal',
    TEMPORAL_VISIBILITY_DB: options.visibility ?? 'temporal_visibility',
    TEMPORAL_PG_HOST: host,
    TEMPORAL_PG_PORT: pgPort,
    TEMPORAL_PG_USER: user,
    TEMPORAL_PG_PASSWORD: password,
    TEMPORAL_DYNAMIC_CONFIG: DYNAMIC_CONFIG,
    ...(options.tls
      ? {
          TEMPORAL_FRONTEND_TLS_CERT: options.tls.serverCert,
          TEMPORAL_FRONTEND_TLS_KEY: options.tls.serverKey,
          TEMPORAL_FRONTEND_TLS_CA: options.tls.ca,
          TEMPORAL_SYSTEM_WORKER_TLS_CERT: options.tls.clientCert,
          TEMPORAL_SYSTEM_WORKER_TLS_KEY: options.tls.clientKey,
        }
      : {}),
  };
  const tls = options.tls && (await clientTls(options.tls));
  // Its own process group: Ctrl-C reaches the script, which stops the server after the workers that use it.
  const child: ChildProcess = spawn(binaries.server, ['--root', options.dataDir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start'], {
    env,
    stdio: ['ignore', options.logTo === 'inherit' ? 'inherit' : 'pipe', options.logTo === 'inherit' ? 'inherit' : 'pipe'],
    detached: true,
  });
  const recent = new RecentLines(20);
  const output = (c: Buffer) => {
    recent.add(c.toString());
    options.onOutput?.(c.toString());
  };
  child.stdout?.on('data', output);
  child.stderr?.on('data', output);
  const address = `127.0.0.1:${port}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await Connection.connect({ address, tls, connectTimeout: 1_000 })
      .then(async (connection) => {
        await connection.workflowService.getSystemInfo({});
        await connection.close();
        return true;
      })
      .catch(() => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal server did not start on ${address}; its last lines:\n${recent.text()}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`Temporal server ${TEMPORAL_SERVER_VERSION} on ${address} (Postgres persistence and visibility${tls ? ', mTLS on the frontend' : ''})`);
  return {
    address,
    ...(tls ? { tls } : {}),
    pid: child.pid,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      const pid = child.pid;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What a client of a server with `certificates` presents and trusts: its client certificate, and the CA. */
export async function clientTls(certificates: ServerCertificates): Promise<TLSConfig> {
  const [ca, crt, key] = await Promise.all([certificates.ca, certificates.clientCert, certificates.clientKey].map((file) => readFile(file)));
  return { serverRootCACertificate: ca!, clientCertPair: { crt: crt!, key: key! } };
}

/** Registers a namespace with a retention for closed runs, unless it exists. */
export async function ensureNamespace(server: string | ServerEndpoint, namespace: string, retentionDays: number, say: Say): Promise<void> {
  const connection = await Connection.connect(typeof server === 'string' ? { address: server } : server);
  try {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000),
      });
      say(`namespace ${namespace} registered, closed runs kept ${retentionDays} days`);
    } catch (err) {
      if (!/already (exists|registered)/i.test(String((err as Error).message))) throw err;
    }
    // The frontend learns of a new namespace on its next refresh of the namespace registry, not at
    // once: until then its calls in the namespace (search attributes, starts) answer NOT_FOUND.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await connection.operatorService.listSearchAttributes({ namespace });
        return;
      } catch (err) {
        if (!/not found/i.test(String((err as Error).message)) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await connection.close();
  }
}

export const TEMPORAL_UI_MODULE = 'github.com/temporalio/ui-server/v2';
/**
 * The newest Temporal UI server whose go.mod this machine's Go accepts (1.24)
 * and has no replace directive; its built pages are embedded in the module.
 */
export const TEMPORAL_UI_VERSION = 'v2.45.3';

/**
 * Finds or builds the Temporal UI server. It installs as `server`, like the
 * Temporal server, so it gets a folder of its own in GOPATH/bin.
 */
export async function findOrBuildTemporalUi(say: Say): Promise<string> {
  const binDir = await goBinDir();
  if (!binDir) throw new Error('cannot tell where go install puts binaries: set GOPATH');
  const dir = join(binDir, `temporal-ui-${TEMPORAL_UI_VERSION}`);
  const binary = join(dir, 'server');
  if (!existsSync(binary)) {
    await mkdir(dir, { recursive: true });
    await goInstall(`${TEMPORAL_UI_MODULE}/cmd/server@${TEMPORAL_UI_VERSION}`, `the Temporal UI ${TEMPORAL_UI_VERSION}`, 'about a minute and a half on 2 cores', say, dir);
  }
  return binary;
}

/** Starts the Temporal UI for the server at `temporalAddress` on `port`; answers its URL once it serves. */
export async function startTemporalUi(
  binary: string,
  options: { temporalAddress: string; port: number; dataDir: string; codecEndpoint?: string | undefined; tls?: ServerCertificates | undefined },
): Promise<{ url: string; stop(): Promise<void> }> {
  const configDir = join(options.dataDir, 'config');
  await mkdir(configDir, { recursive: true });
  // With a codec endpoint (payload encryption on), the browser decodes payloads there, sending the user's token.
  const codec = options.codecEndpoint ? ['codec:', `  endpoint: ${options.codecEndpoint}`, '  passAccessToken: true'] : [];
  // A frontend with mTLS: the UI server presents the client certificate too.
  const tls = options.tls
    ? ['tls:', `  caFile: ${options.tls.ca}`, `  certFile: ${options.tls.clientCert}`, `  keyFile: ${options.tls.clientKey}`, '  enableHostVerification: true', '  serverName: localhost']
    : [];
  await writeFile(
    join(configDir, 'cluster.yaml'),
    [`temporalGrpcAddress: ${options.temporalAddress}`, 'host: 127.0.0.1', `port: ${options.port}`, 'enableUi: true', 'defaultNamespace: default', ...codec, ...tls, ''].join('\n'),
  );
  const child = spawn(binary, ['--root', options.dataDir, '--config', 'config', '--env', 'cluster', 'start'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const recent = new RecentLines(20);
  child.stdout?.on('data', (c: Buffer) => recent.add(c.toString()));
  child.stderr?.on('data', (c: Buffer) => recent.add(c.toString()));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 30_000;
  while (!(await fetch(url).then((r) => r.ok).catch(() => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal UI did not start on ${url}; its last lines:\n${recent.text()}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const exited = new Promise((r) => child.once('exit', r));
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      const pid = child.pid;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
