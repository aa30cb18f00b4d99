/**
 * Brings up, once for the integration suite: a Temporal dev server (in memory,
 * headless, on free ports), a Postgres (`TEST_DATABASE_URL`/`DATABASE_URL`, or an
 * embedded one in a temporary folder), the workflow bundle every test
 * worker shares, and the compiled product (dist/node) the tests start
 * processes from.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { TestProject } from 'vitest/node';
import { generateCertificates } from '../../scripts/lib/certificates';
import { buildNode } from '../../scripts/lib/compile';
import { obtainPostgres } from '../../scripts/lib/postgres';
import { freePort, isPortTaken } from '../../scripts/lib/ports';
import { startTemporal } from '../../scripts/lib/temporal';
import {
  ensureNamespace,
  findOrBuildTemporalServer,
  freeServerPort,
  type ServerEndpoint,
  setupTemporalDatabases,
  startTemporalServer,
} from '../../scripts/lib/temporal-server';
import { buildWorkflowBundle } from '../../src/worker/create-worker';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { ServerErrors } from './server-errors';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /**
     * The variables that reach the suite's Temporal, for the harness's configuration and the
     * processes tests start: its address and, on the real server (mTLS only, as production runs
     * it), the client certificate, its key and the CA.
     */
    temporalEnv: Record<string, string>;
    postgresUrl: string;
    workflowBundlePath: string;
  }
}

const say = (line: string) => process.stdout.write(`[test setup] ${line}\n`);

/** The Temporal the suite runs on: the CLI's dev server, or the real server on Postgres (`TEST_TEMPORAL=server`). */
export type TestTemporal = 'dev' | 'server';

export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupWith(project, process.env.TEST_TEMPORAL === 'server' ? 'server' : 'dev');
}

/**
 * What both projects' set-ups need alike, made once: the workflow bundle
 * (about 8 s of CPU at the busiest moment of the run: the unit tests, both
 * servers starting) and the product compiled from the code under test
 * (test/support/processes.ts starts it). Both set-ups run in vitest's one
 * process, each maybe with its own copy of this module, so what is made is
 * kept on the process, under `name`, rather than in a module variable.
 */
function onceForBothProjects<T>(name: string, make: () => Promise<T>): Promise<T> {
  const shared = globalThis as Record<symbol, Promise<T> | undefined>;
  const key = Symbol.for(`wfa.test.${name}`);
  return (shared[key] ??= make());
}

export async function setupWith(project: TestProject, kind: TestTemporal): Promise<() => Promise<void>> {
  const scratch = await mkdtemp(join(tmpdir(), 'wfa-test-'));
  const started = Date.now();

  const postgresReady = testPostgres(scratch);
  const serverErrors = new ServerErrors();
  const [temporal, postgres, bundlePath] = await Promise.all([
    (async () => {
      const server: ServerEndpoint & { env: Record<string, string>; stop(): Promise<void> } =
        kind === 'server'
          ? await temporalServer(scratch, (await postgresReady).url, serverErrors)
          : { ...(await startTemporal({ port: await freePort(), headless: true, onOutput: (text) => serverErrors.add(text) }, say)), env: {} };
      const connection = await Connection.connect({ address: server.address, tls: server.tls });
      await ensureSearchAttributes(connection, 'default');
      await connection.close();
      return server;
    })(),
    postgresReady,
    (async () => {
      const path = join(scratch, 'workflow-bundle.js');
      await writeFile(path, await onceForBothProjects('workflowBundle', () => buildWorkflowBundle()));
      return path;
    })(),
    onceForBothProjects('compiledProduct', buildNode),
  ]);
  say(`Temporal at ${temporal.address}, Postgres ${postgres.embedded ? 'embedded' : 'from DATABASE_URL'}, ready in ${Date.now() - started} ms`);

  project.provide('temporalAddress', temporal.address);
  project.provide('temporalEnv', { TEMPORAL_ADDRESS: temporal.address, ...temporal.env });
  project.provide('postgresUrl', postgres.url);
  project.provide('workflowBundlePath', bundlePath);

  return async () => {
    // A Temporal that stopped answering fails every file after it, each with a symptom; its own errors name the cause.
    const errors = serverErrors.report();
    if (errors) say(errors);
    await Promise.allSettled([temporal.stop(), postgres.stop()]);
    await rm(scratch, { recursive: true, force: true });
  };
}

/**
 * The real Temporal server on the test Postgres (databases of its own), as
 * production runs it, instead of the dev server: with mTLS on its frontend,
 * from certificates made here, so the core runs over mTLS as a secured
 * cluster takes it. Answers the server and the variables of a client of it.
 */
async function temporalServer(scratch: string, postgresUrl: string, errors: ServerErrors) {
  const [binaries, certificates] = await Promise.all([findOrBuildTemporalServer(say), generateCertificates(join(scratch, 'certificates'))]);
  const databases = { postgresUrl, main: 'wfa_test_temporal', visibility: 'wfa_test_temporal_visibility' };
  await setupTemporalDatabases(binaries, databases, say);
  // The frontend's port and its companions (see deploy/temporal/config/cluster.yaml), apart from any other server's, and
  // below 32768 (the server stores membership ports as smallint: a port from the ephemeral range stops it at start).
  const port = (await isPortTaken(17233)) ? await freeServerPort() : 17233;
  const server = await startTemporalServer(binaries, { ...databases, port, dataDir: join(scratch, 'temporal'), tls: certificates, onOutput: (text) => errors.add(text) }, say);
  await ensureNamespace(server, 'default', 1, say);
  const env = {
    TEMPORAL_TLS_CLIENT_CERT_PATH: certificates.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certificates.clientKey,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certificates.ca,
  };
  return { ...server, env };
}

/**
 * `TEST_DATABASE_URL` or `DATABASE_URL` when set; else an embedded Postgres;
 * and should that fail to start (its binaries must be readable by the
 * `postgres` user when we run as root), a server on the standard local port.
 */
async function testPostgres(scratch: string) {
  const configured = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  try {
    return await obtainPostgres(configured, { dataDir: join(scratch, 'postgres'), port: await freePort(), database: 'postgres' }, say);
  } catch (err) {
    if (configured) throw err;
    const local = 'postgres://postgres@127.0.0.1:5432/postgres';
    say(`embedded Postgres did not start (${String(err)}); trying ${local}`);
    return obtainPostgres(local, { dataDir: '', port: 0, database: '' }, say);
  }
}

