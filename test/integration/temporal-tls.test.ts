/**
 * The product over mTLS, on the real Temporal server the `integration-server`
 * project runs with `requireClientAuth` on its frontend (as `npm run cluster
 * -- --tls` runs it; test/support/global-setup.ts makes its certificates with
 * openssl): a worker process and the gateway complete a run; a worker
 * presenting a certificate of another CA is refused with one line saying so;
 * a worker whose certificate file is missing stops at start with its one
 * line. Every other file of that project runs over the same mTLS too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateCa, generateSigned } from '../../scripts/lib/certificates';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productCommand, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

/** Three worker starts, a run. */
const FILE_TIMEOUT = runTimeout({ steps: 2, extra: '30s' });

let scratch: string;
let stranger: { cert: string; key: string };
let h: Harness;
const processes = productProcesses();
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);

/** The variables of an mTLS client of the suite's server, presenting `client` (by default the suite's own client certificate). */
function mtlsEnv(client?: { cert: string; key: string }): Record<string, string> {
  const suite = inject('temporalEnv');
  return {
    ...suite,
    TEMPORAL_TLS_CLIENT_CERT_PATH: client?.cert ?? suite.TEMPORAL_TLS_CLIENT_CERT_PATH!,
    TEMPORAL_TLS_CLIENT_KEY_PATH: client?.key ?? suite.TEMPORAL_TLS_CLIENT_KEY_PATH!,
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

describe('the product over mTLS', () => {
  beforeAll(async () => {
    expect(inject('temporalEnv').TEMPORAL_TLS_SERVER_CA_CERT_PATH, "the suite's server takes mTLS only").toBeDefined();
    scratch = await mkdtemp(join(tmpdir(), 'wfa-tls-'));
    const other = await generateCa(join(scratch, 'other'), 'other-ca');
    stranger = await generateSigned(join(scratch, 'other'), other, 'stranger', 'client');
    // The harness's gateway and client connect over mTLS, as the product's processes do.
    h = await createHarness({ worker: false });
  }, FILE_TIMEOUT);

  afterAll(async () => {
    await processes.killAll();
    await h?.close();
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
        `Temporal at ${h.config.temporal.address} refused the connection: the server does not trust the CA that signed this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)`,
      );
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain('does not answer');
    },
    FILE_TIMEOUT,
  );

  it(
    'stops a worker whose certificate file is missing at start, with one line naming it',
    async () => {
      const missing = join(scratch, 'no-such-client.pem');
      const { code, output } = await workerUntilExit({ ...mtlsEnv(), TEMPORAL_TLS_CLIENT_CERT_PATH: missing });
      expect(code).toBe(1);
      expect(output).toBe(
        `Invalid configuration:\n  - TEMPORAL_TLS_CLIENT_CERT_PATH (${missing}) does not exist\nSee .env.example for every variable and its meaning.\n`,
      );
    },
    FILE_TIMEOUT,
  );
});
