/**
 * Payload encryption on the real dev server: with ENCRYPTION_KEYS set, a
 * run's history holds none of the personal data of its trigger (searched in
 * every payload's bytes, with a control run without encryption that finds
 * it); the run completes and the API still shows the data; the codec server
 * decodes for a key and refuses without one; a worker restarted with a new
 * current key finishes the run it left, and the sealed history replays.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { findExecution } from '../../db/executions';
import { dataConverterFor } from '../../src/temporal/encryption';
import { createWorker } from '../../src/worker/create-worker';
import { mirrorSinks } from '../../src/worker/mirror-sink';
import { createHarness, eventually, type Harness } from '../support/harness';

const CANARIES = ['canary.ada@example.test', '+14155550123', 'Ada Canary-Lovelace'];
const TRIGGER = { email: CANARIES[0], phone: CANARIES[1], name: CANARIES[2], amount: 42 };
const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');

const DEFINITION = {
  key: 'encrypted-order',
  name: 'Encrypted order',
  steps: [
    { id: 'greet', type: 'set', values: { greeting: '{{ "Dear " & input.name }}', contact: '{{ input.email }}' } },
    { id: 'signoff', type: 'approval', approvers: ['test harness'], timeout: '1h', onTimeout: 'reject' },
    { id: 'done', type: 'set', values: { phone: '{{ input.phone }}' } },
  ],
};

let encrypted: Harness;
let plain: Harness;
let viewerKey: string;

beforeAll(async () => {
  [encrypted, plain] = await Promise.all([createHarness({ env: { ENCRYPTION_KEYS: `k1:${K1}` } }), createHarness()]);
  viewerKey = (await createApiKey(encrypted.db, { name: 'vera', role: 'viewer' })).key;
  for (const h of [encrypted, plain]) expect((await h.api('POST', '/api/workflows', DEFINITION)).status).toBe(201);
});

afterAll(async () => {
  await Promise.all([encrypted?.close(), plain?.close()]);
});

/** Every byte string and string anywhere in a history, as the server stores it (no codec). */
function bytesOf(value: unknown, out: Buffer[] = []): Buffer[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value));
  else if (typeof value === 'string') out.push(Buffer.from(value));
  else if (Array.isArray(value)) for (const v of value) bytesOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) bytesOf(v, out);
  return out;
}

async function rawHistory(h: Harness, workflowId: string) {
  const raw = new Client({ connection: h.connection, namespace: h.config.temporal.namespace });
  return raw.workflow.getHandle(workflowId).fetchHistory();
}

async function startWaiting(h: Harness) {
  const started = await h.api('POST', '/api/workflows/encrypted-order/execute', { triggerData: TRIGGER });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await eventually(async () => ((await findExecution(h.db, started.body.executionId))?.current_step === 'signoff' ? true : undefined));
  return { executionId: started.body.executionId as string, workflowId: started.body.workflowId as string };
}

describe('payload encryption', () => {
  let run: { executionId: string; workflowId: string };

  it('keeps the personal data of a run out of its history, where without encryption it is found', async () => {
    run = await startWaiting(encrypted);
    const control = await startWaiting(plain);
    const sealed = bytesOf(await rawHistory(encrypted, run.workflowId));
    const clear = bytesOf(await rawHistory(plain, control.workflowId));
    for (const canary of CANARIES) {
      expect(clear.some((b) => b.includes(canary)), `control finds ${canary}`).toBe(true);
      expect(sealed.some((b) => b.includes(canary)), `encrypted history holds ${canary}`).toBe(false);
    }
    expect(sealed.some((b) => b.includes('binary/encrypted'))).toBe(true);
    // The API still shows the data (from the mirror) and the live state (through the codec).
    const shown = await encrypted.api('GET', `/api/executions/${run.executionId}`);
    expect(shown.body.triggerData).toEqual(TRIGGER);
    expect(shown.body.live.vars).toEqual({ greeting: `Dear ${CANARIES[2]}`, contact: CANARIES[0] });
    await plain.api('POST', `/api/executions/${control.executionId}/cancel`);
  });

  it('decodes for a key through the codec server, and for nobody without one', async () => {
    const history = await rawHistory(encrypted, run.workflowId);
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const asJson = {
      metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(input.data!).toString('base64'),
    };
    const decoded = await encrypted.api('POST', '/api/codec/decode', { payloads: [asJson] }, { 'x-namespace': 'default' }, { key: viewerKey });
    expect(decoded.status, JSON.stringify(decoded.body)).toBe(200);
    const payload = decoded.body.payloads[0];
    expect(Buffer.from(payload.metadata.encoding, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payload.data, 'base64').toString()).triggerData).toEqual(TRIGGER);
    expect((await encrypted.api('POST', '/api/codec/decode', { payloads: [asJson] }, {}, { key: null })).status).toBe(401);
    // A viewer may decode, not encode.
    expect((await encrypted.api('POST', '/api/codec/encode', { payloads: [payload] }, {}, { key: viewerKey })).status).toBe(403);
    const encoded = await encrypted.api('POST', '/api/codec/encode', { payloads: [payload] });
    expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    // The Web UI's origin may call it from the browser.
    const ui = new URL(encrypted.config.temporal.uiUrl).origin;
    const preflight = await fetch(`${encrypted.baseUrl}/api/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin: ui, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ui);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await encrypted.api('POST', '/api/codec/decode', { payloads: [{ data: 'not base64!' }] })).status).toBe(400);
  });

  it('lets a worker restarted with a new current key finish the run the old key began', async () => {
    const rotated = { keys: { k1: K1, k2: K2 }, currentKeyId: 'k2' };
    await encrypted.stopWorker();
    const connection = await NativeConnection.connect({ address: encrypted.config.temporal.address });
    let worker: Worker | undefined;
    let running: Promise<void> | undefined;
    try {
      worker = await createWorker({
        config: { ...encrypted.config, encryption: rotated },
        db: encrypted.db,
        connection,
        workflowBundle: { codePath: inject('workflowBundlePath') },
      });
      running = worker.run();
      // Every client learns the new key before a worker seals with it (docs/DEPLOYMENT.md, "Rotating
      // the key"): this one holds both, as the gateways would after the first restart.
      const reader = new Client({ connection: encrypted.connection, namespace: 'default', dataConverter: dataConverterFor(rotated) });
      const handle = reader.workflow.getHandle(run.workflowId);
      // A gateway still without the new key takes the decision but cannot read the run's answer,
      // sealed with k2: it says so, naming the key, instead of an internal error.
      const decided = await encrypted.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'signoff', decision: 'approve' });
      expect(decided.status).toBe(500);
      expect(decided.body).toMatchObject({ code: 'payload_unreadable', detail: expect.stringMatching(/encrypted with key "k2", which ENCRYPTION_KEYS does not hold/) });
      const result = await handle.result();
      expect(result.vars).toMatchObject({ phone: CANARIES[1] });
      const keysUsed = bytesOf(await rawHistory(encrypted, run.workflowId))
        .map((b) => b.toString())
        .filter((s) => s === 'k1' || s === 'k2');
      expect(new Set(keysUsed)).toEqual(new Set(['k1', 'k2']));
      await eventually(async () => ((await findExecution(encrypted.db, run.executionId))?.status === 'SUCCESS' ? true : undefined));
      // Its sealed history replays on the workflow code, with the codec, as every recorded history must.
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: dataConverterFor(rotated), sinks: mirrorSinks(async () => undefined) },
        await handle.fetchHistory(),
      );
    } finally {
      worker?.shutdown();
      await running;
      await connection.close();
    }
  });
});
