/**
 * Idempotent starts: `Idempotency-Key` on POST /api/workflows/:id/execute
 * answers the first run for the same key and definition: on a repeat, under
 * concurrency, after the run closed, from a restarted gateway, and after a
 * start that died half-way.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotentWorkflowId } from '../../src/executions/idempotent-start';
import { createApp } from '../../src/gateway/app';
import { createLogger } from '../../src/logger';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;

const steps = [{ id: 'only', type: 'set', values: { n: '{{ input.n }}' } }];

beforeAll(async () => {
  h = await createHarness();
  for (const key of ['idem-a', 'idem-b', 'idem-disable']) {
    const res = await h.api('POST', '/api/workflows', { key, name: key, category: 'tests', steps });
    expect(res.status).toBe(201);
  }
  const strict = await h.api('POST', '/api/workflows', {
    key: 'idem-strict',
    name: 'Strict input',
    category: 'tests',
    inputSchema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
    steps,
  });
  expect(strict.status).toBe(201);
});

afterAll(async () => {
  await h?.close();
});

function execute(definition: string, key: string | undefined, triggerData: Record<string, unknown> = { n: 1 }) {
  return h.api('POST', `/api/workflows/${definition}/execute`, { triggerData }, key === undefined ? {} : { 'idempotency-key': key });
}

async function mirrorRows(workflowId: string) {
  return h.db.selectFrom('workflow_executions').selectAll().where('workflow_id', '=', workflowId).execute();
}

/** Every run Temporal holds under the workflow id (visibility catches up within moments). */
async function temporalRuns(workflowId: string): Promise<string[]> {
  const runs = await eventually(
    async () => {
      const found: string[] = [];
      for await (const w of h.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) found.push(w.runId);
      return found.length > 0 ? found : undefined;
    },
    10_000,
    `runs of ${workflowId} in visibility`,
  );
  return runs;
}

function ids(body: { executionId: string; workflowId: string; runId: string }) {
  return { executionId: body.executionId, workflowId: body.workflowId, runId: body.runId };
}

describe('Idempotency-Key', () => {
  it('starts a run once (202), then answers that run (200, idempotentReplay) instead of another', async () => {
    const key = `order-${randomUUID()}`;
    const first = await execute('idem-a', key);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ idempotentReplay: false, status: 'RUNNING', statusUrl: `/api/executions/${first.body.executionId}` });
    expect(first.body.workflowId).toBe(idempotentWorkflowId('idem-a', 'manual', key));
    expect(first.body.workflowId).toMatch(/^idem-a-idem-[0-9a-f]{32}$/);
    expect(first.body.workflowId).not.toContain(key);

    const again = await execute('idem-a', key, { n: 2 });
    expect(again.status).toBe(200);
    expect(again.body.idempotentReplay).toBe(true);
    expect(ids(again.body)).toEqual(ids(first.body));
    expect(again.headers.get('location')).toBe(`/api/executions/${first.body.executionId}`);

    await h.client.workflow.getHandle(first.body.workflowId).result();
    const afterClose = await execute('idem-a', key);
    expect(afterClose.status).toBe(200);
    expect(ids(afterClose.body)).toEqual(ids(first.body));
    expect(afterClose.body.status).toBe('SUCCESS');

    expect(await mirrorRows(first.body.workflowId)).toHaveLength(1);
    expect(await temporalRuns(first.body.workflowId)).toEqual([first.body.runId]);
  });

  it('starts exactly one run and one mirror row for 5 concurrent requests with the same key', async () => {
    const key = `burst-${randomUUID()}`;
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => execute('idem-a', key, { n: i })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 202]);
    const [first] = answers;
    for (const a of answers) expect(ids(a.body)).toEqual(ids(first!.body));
    expect(answers.filter((a) => a.body.idempotentReplay === false)).toHaveLength(1);

    const rows = await mirrorRows(first!.body.workflowId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: first!.body.executionId, run_id: first!.body.runId });
    await h.client.workflow.getHandle(first!.body.workflowId).result();
    expect(await temporalRuns(first!.body.workflowId)).toEqual([first!.body.runId]);
  });

  it('holds across a gateway restart: a new process with no memory of the first answers the same run', async () => {
    const key = `restart-${randomUUID()}`;
    const first = await execute('idem-a', key);
    expect(first.status).toBe(202);

    // A second gateway: its own app, Temporal connection and client, sharing only Postgres and Temporal.
    const connection = await Connection.connect(temporalConnectionOptions(h.config.temporal));
    const client = new Client({ connection, namespace: h.config.temporal.namespace });
    const app = createApp({ config: h.config, db: h.db, temporal: { connection, client }, logger: createLogger({ logLevel: 'silent' }, 'test') });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/workflows/idem-a/execute`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ triggerData: { n: 1 } }),
      });
      const body = (await res.json()) as { executionId: string; workflowId: string; runId: string; idempotentReplay: boolean };
      expect(res.status).toBe(200);
      expect(ids(body)).toEqual(ids(first.body));
      expect(body.idempotentReplay).toBe(true);
    } finally {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await connection.close();
    }
    expect(await mirrorRows(first.body.workflowId)).toHaveLength(1);
  });

  it('finishes the start of a gateway that died between the mirror row and Temporal, under the same ids', async () => {
    const key = `crashed-${randomUUID()}`;
    const workflowId = idempotentWorkflowId('idem-a', 'manual', key);
    const executionId = await insertOrphan(workflowId, 'PENDING');

    const res = await execute('idem-a', key, { n: 99 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ executionId, workflowId, idempotentReplay: true, runId: expect.any(String) });
    await h.client.workflow.getHandle(workflowId).result();
    const row = await eventually(async () => {
      const [r] = await mirrorRows(workflowId);
      return r?.status === 'SUCCESS' ? r : undefined;
    });
    expect(row).toMatchObject({ id: executionId, run_id: res.body.runId });
    // The run ran the first request's trigger data, stored with its row.
    expect(await h.client.workflow.getHandle(workflowId).query('state')).toMatchObject({ vars: { n: 7 } });
  });

  it('retries a start that failed before Temporal took it: 202, same execution id, and the run goes ahead', async () => {
    const key = `refused-${randomUUID()}`;
    const workflowId = idempotentWorkflowId('idem-a', 'manual', key);
    const executionId = await insertOrphan(workflowId, 'FAILED');

    const res = await execute('idem-a', key);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ executionId, workflowId, idempotentReplay: false });
    await h.client.workflow.getHandle(workflowId).result();
    const row = await eventually(async () => {
      const [r] = await mirrorRows(workflowId);
      return r?.status === 'SUCCESS' ? r : undefined;
    });
    expect(row).toMatchObject({ id: executionId, run_id: res.body.runId, error: null });
    expect(await temporalRuns(workflowId)).toEqual([res.body.runId]);
  });

  it('finds a closed run Temporal took although the mirror never learnt its run id', async () => {
    const key = `lost-${randomUUID()}`;
    const first = await execute('idem-a', key);
    await h.client.workflow.getHandle(first.body.workflowId).result();
    await h.db.updateTable('workflow_executions').set({ run_id: null, status: 'PENDING' }).where('id', '=', first.body.executionId).execute();

    // Temporal refuses a second run under a closed id (REJECT_DUPLICATE); the gateway answers the first.
    const res = await execute('idem-a', key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(ids(res.body)).toEqual(ids(first.body));
    expect(await temporalRuns(first.body.workflowId)).toEqual([first.body.runId]);
  });

  it('is scoped to the definition, and requests without the header start a run each time', async () => {
    const key = `shared-${randomUUID()}`;
    const a = await execute('idem-a', key);
    const b = await execute('idem-b', key);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.executionId).not.toBe(a.body.executionId);
    expect(b.body.workflowId).not.toBe(a.body.workflowId);

    const plain1 = await execute('idem-a', undefined);
    const plain2 = await execute('idem-a', undefined);
    expect([plain1.status, plain2.status]).toEqual([202, 202]);
    expect(plain1.body.executionId).not.toBe(plain2.body.executionId);
    expect(plain1.body).not.toHaveProperty('idempotentReplay');
    expect(Object.keys(plain1.body).sort()).toEqual(['definitionVersion', 'executionId', 'runId', 'status', 'statusUrl', 'waitUrl', 'workflowId']);
  });

  it('answers the first run even after the definition was disabled, while a new key is refused', async () => {
    const key = `before-disable-${randomUUID()}`;
    const first = await execute('idem-disable', key);
    expect(first.status).toBe(202);
    const current = await h.api('GET', '/api/workflows/idem-disable');
    expect((await h.api('PUT', '/api/workflows/idem-disable', { ...current.body.definition, enabled: false })).status).toBe(200);

    const replayed = await execute('idem-disable', key);
    expect(replayed.status).toBe(200);
    expect(ids(replayed.body)).toEqual(ids(first.body));
    const fresh = await execute('idem-disable', `after-disable-${randomUUID()}`);
    expect(fresh.status).toBe(409);
    expect(fresh.body.code).toBe('definition_disabled');
  });

  it('validates trigger data before keeping the key: a refused request can be sent again, fixed', async () => {
    const key = `strict-${randomUUID()}`;
    const bad = await execute('idem-strict', key, { n: 'one' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('$.body.triggerData.n');
    expect(await mirrorRows(idempotentWorkflowId('idem-strict', 'manual', key))).toHaveLength(0);
    expect((await execute('idem-strict', key, { n: 1 })).status).toBe(202);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'order 17'],
    ['with a slash', 'orders/17'],
    ['non-ASCII', 'commande-é'],
    ['201 characters long', 'k'.repeat(201)],
  ])('refuses a key that is %s with 400 naming the header', async (_name, key) => {
    const res = await execute('idem-a', key);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toEqual([{ path: '$.headers["idempotency-key"]', message: expect.stringMatching(/1 to 200 characters/) }]);
  });

  it('accepts keys of letters, digits and . _ : - up to 200 characters', async () => {
    for (const key of ['k'.repeat(200), `Order:2026-11-25.A_17-${randomUUID()}`]) {
      expect((await execute('idem-a', key)).status).toBe(202);
    }
  });
});

/** A mirror row as a start left it when it never reached Temporal, for run `n = 7`. */
async function insertOrphan(workflowId: string, status: 'PENDING' | 'FAILED'): Promise<string> {
  const definition = await h.db.selectFrom('workflow_definitions').selectAll().where('key', '=', 'idem-a').executeTakeFirstOrThrow();
  const id = randomUUID();
  await h.db
    .insertInto('workflow_executions')
    .values({
      id,
      definition_id: definition.id,
      definition_version: definition.current_version,
      workflow_id: workflowId,
      run_id: null,
      status,
      trigger_type: 'manual',
      trigger_data: JSON.stringify({ n: 7 }),
      template_key: null,
      category: definition.category,
      current_step: null,
      error: status === 'FAILED' ? 'could not start on Temporal: connection refused' : null,
      finished_at: status === 'FAILED' ? new Date() : null,
      duration_ms: status === 'FAILED' ? 0 : null,
    })
    .execute();
  return id;
}
