/**
 * The real entry points, as `npm run dev` and the container start them: the
 * worker and the gateway as separate processes, a run through them, and a
 * clean exit on SIGTERM; both started while Temporal is away, then Temporal
 * started; and the supervisor `npm run dev` and `npm run cluster` keep them
 * running with.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import { dropDatabase, ensureDatabase } from '../../scripts/lib/postgres';
import { freePort } from '../../scripts/lib/ports';
import { startSmtpSink, type SmtpSink } from '../../scripts/lib/sinks';
import { createSupervisor } from '../../scripts/lib/supervisor';
import { type DevServer, startTemporal } from '../../scripts/lib/temporal';
import { eventually } from '../support/harness';
import { productCommand } from '../support/processes';
import { runTimeout } from '../support/timeouts';

let databaseUrl: string;
let adminKey: string;
let smtp: SmtpSink;
const children: ChildProcess[] = [];
const output: string[] = [];

/** Node on the compiled product, as the scripts start it: one process, which a kill reaches. */
function start(entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, productCommand(entry), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  children.push(child);
  return child;
}

/** The product's log lines `child` printed (pino's JSON), each with its message. */
function logLines(child: ChildProcess): () => { msg: string; level: number }[] {
  const lines: { msg: string; level: number }[] = [];
  let partial = '';
  child.stdout?.on('data', (c: Buffer) => {
    const text = partial + c.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      try {
        lines.push(JSON.parse(line) as { msg: string; level: number });
      } catch {
        // not a log line
      }
    }
  });
  return () => lines;
}

/** Whether `pid` is a live process (a zombie, awaiting its reaping, is not). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

beforeAll(async () => {
  const url = new URL(inject('postgresUrl'));
  url.pathname = `/wfa_proc_${randomUUID().slice(0, 8)}`;
  databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  const db = createDb({ url: databaseUrl });
  await migrateToLatest(db);
  ({ key: adminKey } = await createApiKey(db, { name: 'process test', role: 'admin' }));
  await db.destroy();
  smtp = await startSmtpSink();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await smtp?.close();
  await dropDatabase(databaseUrl).catch(() => undefined);
});

describe('worker and gateway processes', () => {
  // Two processes to start, one of them bundling the workflow code: seconds of CPU each.
  it('start from their entry points, run a workflow end to end, serve the worker SDK metrics, and exit 0 on SIGTERM', async () => {
    const port = await freePort();
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    const env = {
      WORKER_METRICS_ADDRESS: metricsAddress,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      LOG_LEVEL: 'warn',
    };
    const worker = start('src/worker/main.ts', env);
    const gateway = start('src/gateway/main.ts', env);
    const api = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${adminKey}` };

    await eventually(
      async () => ((await fetch(`${api}/api/health/workflows`).catch(() => undefined))?.ok ? true : undefined),
      // Healthy once the worker polls: a Node start and the workflow code's bundling, each seconds of CPU.
      runTimeout({ extra: '12s' }),
      `a healthy gateway (output so far: ${output.join('')})`,
    );

    const created = await fetch(`${api}/api/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({
        key: 'process-smoke',
        name: 'Process smoke test',
        steps: [{ id: 'mail', type: 'email', to: '{{ input.to }}', subject: 'smoke', text: 'it works' }],
      }),
    }).then((r) => r.json() as Promise<any>);
    const started = await fetch(`${api}/api/workflows/${created.id}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ triggerData: { to: 'ops@example.test' } }),
    }).then((r) => r.json() as Promise<any>);
    const finished = await eventually(async () => {
      const row = await fetch(`${api}/api/executions/${started.executionId}`, { headers: auth }).then((r) => r.json() as Promise<any>);
      return row.status === 'SUCCESS' ? row : undefined;
    }, 30_000, 'the run to succeed');
    expect(finished.logs.map((l: { event: string }) => l.event)).toEqual(['STARTED', 'COMPLETED']);
    expect(smtp.messages.map((m) => m.to)).toEqual([['ops@example.test']]);

    // The worker's own Prometheus endpoint: the Temporal SDK's metrics, this run among them.
    const taskQueue = `task_queue="${env.TEMPORAL_TASK_QUEUE}"`;
    const scraped = await eventually(async () => {
      const text = await fetch(`http://${metricsAddress}/metrics`).then((r) => (r.ok ? r.text() : undefined));
      return text?.split('\n').some((line) => line.startsWith('temporal_workflow_completed{') && line.includes(taskQueue)) ? text : undefined;
    }, 30_000, `temporal_workflow_completed at ${metricsAddress}/metrics`);
    expect(scraped).toMatch(/^# TYPE temporal_\w+ (counter|gauge|histogram)$/m);
    expect(scraped).toMatch(/^temporal_workflow_task_schedule_to_start_latency_bucket\{/m);

    gateway.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect(await exitOf(gateway)).toBe(0);
    expect(await exitOf(worker)).toBe(0);
  }, runTimeout({ steps: 1, extra: '30s' }));

  it('refuses to start on a bad configuration, one line per problem', async () => {
    const gateway = start('src/gateway/main.ts', { DATABASE_URL: '', PORT: 'x', SMTP_SECURE: 'perhaps' });
    const chunks: string[] = [];
    gateway.stderr?.on('data', (c: Buffer) => chunks.push(c.toString()));
    expect(await exitOf(gateway)).toBe(1);
    const text = chunks.join('');
    expect(text).toMatch(/^ {2}- DATABASE_URL /m);
    expect(text).toMatch(/^ {2}- PORT /m);
    expect(text).toMatch(/^ {2}- SMTP_SECURE /m);
  });
});

describe('with Temporal away', () => {
  let temporal: DevServer | undefined;
  afterAll(async () => {
    await temporal?.stop();
  });

  it('the gateway and the worker start and wait for it, starts are refused at once, and once it comes a run completes', async () => {
    // Nothing listens at this address until the test starts a dev server there.
    const temporalPort = await freePort();
    const port = await freePort();
    const env = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_TASK_QUEUE: `away-${randomUUID().slice(0, 8)}`,
      PORT: String(port),
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      LOG_LEVEL: 'info',
      // A bundle built ahead, as the container image's workers load it (the test above bundles at start).
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    };
    const worker = start('src/worker/main.ts', env);
    const gateway = start('src/gateway/main.ts', env);
    const [workerLog, gatewayLog] = [logLines(worker), logLines(gateway)];
    const api = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
    const warnings = (log: typeof workerLog) => log().filter((l) => l.level === 40 && /Temporal at .* does not answer/.test(l.msg));

    await eventually(
      async () => ((await fetch(`${api}/livez`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
      `the gateway to serve without Temporal (output so far: ${output.join('').slice(-2000)})`,
    );
    const ready = await fetch(`${api}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).checks.temporal.status).toBe('down');
    const health = await fetch(`${api}/api/health/workflows`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as any).checks).toMatchObject({ postgres: { status: 'up' }, temporal: { status: 'down' } });

    // What needs only Postgres works; a start is refused, well before the SDK's own 20 s of retries
    // (the gateway gives an unreachable Temporal 1.5 s: UNREACHABLE_RETRY_BUDGET_MS).
    const created = await fetch(`${api}/api/workflows`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ key: `away-${randomUUID().slice(0, 8)}`, name: 'Away', steps: [{ id: 'mail', type: 'email', to: 'ops@example.test', subject: 'back', text: 'Temporal is back' }] }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const execute = () => fetch(`${api}/api/workflows/${id}/execute`, { method: 'POST', headers: auth, body: '{"triggerData":{}}', signal: AbortSignal.timeout(10_000) });
    const refused = await execute();
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { code: string }).code).toBe('temporal_unavailable');

    // The worker waits too, rather than exiting.
    await eventually(async () => (warnings(workerLog).length ? true : undefined), 30_000, 'the worker to say it waits for Temporal');
    expect(worker.exitCode).toBeNull();

    temporal = await startTemporal({ port: temporalPort, headless: true }, () => undefined);
    await eventually(async () => (workerLog().some((l) => l.msg === 'worker polling') ? true : undefined), 60_000, 'the worker to poll');
    await eventually(async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined), 60_000, 'the gateway to be ready');

    const started = await execute();
    expect(started.status).toBe(202);
    const { executionId } = (await started.json()) as { executionId: string };
    await eventually(async () => {
      const row = (await fetch(`${api}/api/executions/${executionId}`, { headers: auth }).then((r) => r.json())) as { status: string };
      return row.status === 'SUCCESS' ? row : undefined;
    }, 30_000, 'the run to succeed');
    expect(smtp.messages.some((m) => m.raw.includes('Temporal is back'))).toBe(true);

    // One warning for the outage, however many attempts it took.
    expect(warnings(workerLog)).toHaveLength(1);
    expect(warnings(gatewayLog)).toHaveLength(1);

    gateway.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect(await exitOf(gateway)).toBe(0);
    expect(await exitOf(worker)).toBe(0);
  }, 180_000);

  it('a worker stopped while it waits for Temporal exits 0', async () => {
    const worker = start('src/worker/main.ts', {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      LOG_LEVEL: 'info',
    });
    const log = logLines(worker);
    await eventually(async () => (log().some((l) => /does not answer/.test(l.msg)) ? true : undefined), 30_000, 'the worker to wait');
    worker.kill('SIGTERM');
    expect(await exitOf(worker)).toBe(0);
  });
});

describe('the supervisor of npm run dev and npm run cluster', () => {
  /** A child that starts a child of its own and prints both pids, then idles. */
  const SCRIPT = `
    const { spawn } = require('node:child_process');
    const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    console.log('pids ' + process.pid + ' ' + grandchild.pid);
    setInterval(() => {}, 1000);
  `;

  it('starts again a child that dies, with its own children gone, keeps the others, and stops every process of its tree', async () => {
    const said: string[] = [];
    const printed: string[] = [];
    const supervisor = createSupervisor({
      say: (line) => said.push(line),
      write: (_stream, text) => printed.push(text),
      initialBackoffMs: 100,
    });
    const names = ['worker-1', 'worker-2', 'gateway-1'];
    const members = names.map((name) => supervisor.start(name, process.execPath, ['-e', SCRIPT], process.env));
    /** The pids `name` last printed: [its own, its child's]. */
    const pidsOf = (name: string, after = 0) =>
      printed
        .slice(after)
        .map((line) => new RegExp(`^\\[${name}\\] pids (\\d+) (\\d+)$`, 'm').exec(line))
        .filter((m) => m !== null)
        .map((m) => [Number(m[1]), Number(m[2])] as const)
        .at(-1);
    const first = new Map(await Promise.all(names.map(async (name) => [name, await eventually(async () => pidsOf(name), undefined, `${name} to start`)] as const)));
    const tree = () => [...first.values()].flat();
    expect(tree().every(isRunning)).toBe(true);

    const [killed, killedChild] = first.get('worker-1')!;
    const mark = printed.length;
    process.kill(killed, 'SIGKILL');
    const again = await eventually(async () => pidsOf('worker-1', mark), undefined, 'worker-1 to be started again');
    expect(again[0]).not.toBe(killed);
    expect(members[0]!.restarts).toBe(1);
    expect(said).toContain('worker-1 exited (SIGKILL); starting it again in 100 ms');
    // Its child went with it; the others did not move.
    await eventually(async () => (isRunning(killedChild) ? undefined : true), undefined, `worker-1's child ${killedChild} to be gone`);
    expect(members.slice(1).map((m) => m.pid)).toEqual([first.get('worker-2')![0], first.get('gateway-1')![0]]);
    expect([...first.get('worker-2')!, ...first.get('gateway-1')!].every(isRunning)).toBe(true);

    await supervisor.stop();
    const all = [...tree(), ...again];
    await eventually(async () => (all.some(isRunning) ? undefined : true), undefined, `every process of the tree (${all.join(', ')}) to be gone`);
    expect(said.filter((l) => l.startsWith('stopped '))).toHaveLength(3);
  });
});
