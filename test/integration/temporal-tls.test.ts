/**
 * The product over mTLS, on the real Temporal server with `requireClientAuth`
 * on its frontend (as `npm run cluster -- --tls` runs it), from certificates
 * made here with openssl: a worker process and the gateway complete a run;
 * a worker presenting a certificate of another CA is refused with one line
 * saying so; a worker whose certificate file is missing stops at start with
 * its one line. One server for the file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateCa, generateCertificates, generateSigned, type ServerCertificates } from '../../scripts/lib/certificates';
import { dropDatabase } from '../../scripts/lib/postgres';
import { ensureSearchAttributes } from '../../src/temporal/client';
import {
  ensureNamespace,
  findOrBuildTemporalServer,
  freeServerPort,
  setupTemporalDatabases,
  startTemporalServer,
  type TemporalServer,
} from '../../scripts/lib/temporal-server';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productCommand, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

/** The server is built with Go: CI always has it; elsewhere this file says it needs it. */
const withGo = process.env.CI === 'true' || spawnSync('go', ['version']).status === 0;

/** A server start (its schemas, then the process), three worker starts, a run. */
const FILE_TIMEOUT = runTimeout({ steps: 2, extra: '30s' });

let scratch: string;
let certificates: ServerCertificates;
let stranger: { cert: string; key: string };
let server: TemporalServer;
let h: Harness;
const processes = productProcesses();
const databases = (suffix: string) => ({ postgresUrl: inject('postgresUrl'), main: `wfa_tls_${suffix}`, visibility: `wfa_tls_${suffix}_visibility` });
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);

/** The variables of an mTLS client of this server, presenting `client`. */
function mtlsEnv(client: { cert: string; key: string } = { cert: certificates.clientCert, key: certificates.clientKey }): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certificates.ca,
  };
}

/** Runs a worker process with `extra` until it exits by itself; answers its exit code and what it printed. */
async function workerUntilExit(extra: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child: ChildProcess = spawn(process.execPath, productCommand('src/worker/main.ts'), {
    env: harnessEnvironment(h, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const printed: string[] = [];
  child.stdout?.on('data', (c: Buffer) => printed.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => printed.push(c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output: printed.join('') };
}

describe.skipIf(!withGo)('the product over mTLS (needs Go to build the Temporal server)', () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'wfa-tls-'));
    const say = () => undefined;
    const [made, binaries] = await Promise.all([
      (async () => {
        const own = await generateCertificates(join(scratch, 'certs'));
        const other = await generateCa(join(scratch, 'other'), 'other-ca');
        return { own, stranger: await generateSigned(join(scratch, 'other'), other, 'stranger', 'client') };
      })(),
      findOrBuildTemporalServer(say),
    ]);
    certificates = made.own;
    stranger = made.stranger;
    await setupTemporalDatabases(binaries, databases(suffix), say);
    server = await startTemporalServer(binaries, { ...databases(suffix), port: await freeServerPort(), dataDir: join(scratch, 'temporal'), tls: certificates }, say);
    await ensureNamespace(server, 'default', 1, say);
    const connection = await Connection.connect(server);
    try {
      await ensureSearchAttributes(connection, 'default');
      // The frontend learns of a new namespace and its search attributes when it next reads it: until
      // a query by one is accepted, a start could be refused.
      await eventually(async () => {
        await connection.workflowService.listWorkflowExecutions({ namespace: 'default', query: `DefinitionKey = 'none'` });
        return true;
      }, 60_000, 'the server to know the namespace and its search attributes');
    } finally {
      await connection.close();
    }
    // The harness's gateway and client connect over mTLS, as the product's processes do.
    h = await createHarness({ worker: false, env: mtlsEnv() });
  }, FILE_TIMEOUT);

  afterAll(async () => {
    await processes.killAll();
    await h?.close();
    await server?.stop();
    // The server's two databases go with it, on a Postgres of TEST_DATABASE_URL as on an embedded one.
    const { postgresUrl, main, visibility } = databases(suffix);
    const urlOf = (database: string) => {
      const url = new URL(postgresUrl);
      url.pathname = `/${database}`;
      return url.toString();
    };
    await Promise.all([main, visibility].map((database) => dropDatabase(urlOf(database)).catch(() => undefined)));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, FILE_TIMEOUT);

  it(
    'completes a run with a worker process and the gateway connected by mTLS',
    async () => {
      expect(h.config.temporal.security?.tls?.client?.subject).toBe('CN=client');
      await processes.start('src/worker/main.ts', harnessEnvironment(h, mtlsEnv()));
      const created = await h.api('POST', '/api/workflows', {
        key: `tls-${suffix}`,
        name: 'Over mTLS',
        steps: [
          { id: 'greet', type: 'set', values: { greeting: 'hello {{ input.name }}' } },
          { id: 'echo', type: 'set', values: { again: '{{ steps.greet.output.greeting }}' } },
        ],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const started = await h.api('POST', `/api/workflows/tls-${suffix}/execute`, { triggerData: { name: 'tls' } });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      const finished = await eventually(
        async () => {
          const row = await h.api('GET', `/api/executions/${started.body.executionId}`);
          return row.body.status === 'SUCCESS' ? row.body : undefined;
        },
        runTimeout({ steps: 2 }),
        'the run to succeed over mTLS',
      );
      expect(finished.logs.map((l: { event: string }) => l.event)).toContain('COMPLETED');
    },
    FILE_TIMEOUT,
  );

  it(
    'refuses a worker whose certificate another CA signed, and the worker says so in one line and stops',
    async () => {
      const { code, output } = await workerUntilExit(mtlsEnv(stranger));
      expect(code).toBe(1);
      const lines = output.split('\n').filter((line) => line.includes('refused the connection'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(
        `Temporal at ${server.address} refused the connection: the server does not trust the CA that signed this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)`,
      );
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain('does not answer');
    },
    FILE_TIMEOUT,
  );

  it(
    'stops a worker whose certificate file is missing at start, with one line naming it',
    async () => {
      const missing = join(scratch, 'certs', 'no-such-client.pem');
      const { code, output } = await workerUntilExit({ ...mtlsEnv(), TEMPORAL_TLS_CLIENT_CERT_PATH: missing });
      expect(code).toBe(1);
      expect(output).toBe(
        `Invalid configuration:\n  - TEMPORAL_TLS_CLIENT_CERT_PATH (${missing}) does not exist\nSee .env.example for every variable and its meaning.\n`,
      );
    },
    FILE_TIMEOUT,
  );
});
