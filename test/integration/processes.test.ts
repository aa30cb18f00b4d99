/**
 * The real entry points, as `npm run dev` and the container start them: the
 * worker and the gateway as separate processes, a run through them, and a
 * clean exit on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import { dropDatabase, ensureDatabase } from '../../scripts/lib/postgres';
import { freePort } from '../../scripts/lib/ports';
import { startSmtpSink, type SmtpSink } from '../../scripts/lib/sinks';
import { eventually } from '../support/harness';

const tsx = resolve('node_modules', '.bin', 'tsx');
let databaseUrl: string;
let adminKey: string;
let smtp: SmtpSink;
const children: ChildProcess[] = [];
const output: string[] = [];

function start(entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(tsx, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  children.push(child);
  return child;
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
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await smtp?.close();
  await dropDatabase(databaseUrl).catch(() => undefined);
});

describe('worker and gateway processes', () => {
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
      60_000,
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
  });

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
