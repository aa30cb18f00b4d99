/**
 * Webhook triggers: POST /api/hooks/:key, signed with WEBHOOK_SIGNATURE_SECRET
 * instead of an API key, starts the webhook definition with that key; a
 * delivery id makes redelivery start nothing new.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotentWorkflowId } from '../../src/executions/start';
import { signWebhook } from '../../src/gateway/webhook-signature';
import { createHarness, eventually, type Harness } from '../support/harness';

const SECRET = 'hooks-test-secret-0123456789abcdef';
let h: Harness;

beforeAll(async () => {
  h = await createHarness({ env: { WEBHOOK_SIGNATURE_SECRET: SECRET } });
  const base = { category: 'tests', steps: [{ id: 'echo', type: 'set', values: { order: '{{ input.orderId }}' } }] };
  for (const definition of [
    { ...base, key: 'order-hook', name: 'Order hook', trigger: { type: 'webhook' } },
    {
      ...base,
      key: 'strict-hook',
      name: 'Strict hook',
      trigger: { type: 'webhook' },
      inputSchema: { type: 'object', required: ['orderId'], properties: { orderId: { type: 'string' } } },
    },
    { ...base, key: 'manual-only', name: 'Manual only' },
    { ...base, key: 'paused-hook', name: 'Paused hook', trigger: { type: 'webhook' }, enabled: false },
  ]) {
    const res = await h.api('POST', '/api/workflows', definition);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
});

afterAll(async () => {
  await h?.close();
});

/** Posts `body` (sent byte for byte) to a hook with no API key; signs it unless told otherwise. */
function deliver(key: string, body: string, headers: Record<string, string> = {}, signature: string | null = signWebhook(SECRET, body)) {
  return h.api('POST', `/api/hooks/${key}`, body, { ...(signature === null ? {} : { 'x-signature': signature }), ...headers }, { key: null });
}

describe('POST /api/hooks/:key', () => {
  it('starts the webhook definition with the body as trigger data, without an API key (202)', async () => {
    const body = JSON.stringify({ orderId: 'A-17', total: 42 });
    const res = await deliver('order-hook', body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({
      executionId: expect.any(String),
      workflowId: expect.stringMatching(/^order-hook-/),
      runId: expect.any(String),
      status: 'RUNNING',
      statusUrl: `/api/executions/${res.body.executionId}`,
    });
    const result = await h.client.workflow.getHandle(res.body.workflowId).result();
    expect(result).toMatchObject({ status: 'SUCCESS', vars: { order: 'A-17' } });
    const row = await h.db.selectFrom('workflow_executions').selectAll().where('id', '=', res.body.executionId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ trigger_type: 'webhook', trigger_data: { orderId: 'A-17', total: 42 } });
  });

  it('checks the signature over the raw bytes, whatever their spacing', async () => {
    const body = '{\n  "orderId" : "spaced",\n  "total": 1.50\n}';
    const res = await deliver('order-hook', body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const reformatted = JSON.stringify(JSON.parse(body));
    expect((await deliver('order-hook', reformatted, {}, signWebhook(SECRET, body))).status).toBe(401);
  });

  it.each([
    ['no signature', null, /X-Signature header is missing/],
    ['a malformed signature', 'sha256=deadbeef', /X-Signature header is malformed/],
    ['a signature too old to trust', 'OLD', /outside the tolerance of 300 s/],
    ['a signature from another secret', 'OTHER', /does not match the body/],
    ['a signature of another body', 'TAMPERED', /does not match the body/],
  ])('refuses %s with a 401 that says why', async (_name, kind, message) => {
    const body = JSON.stringify({ orderId: 'B-1' });
    const signature =
      kind === 'OLD'
        ? signWebhook(SECRET, body, Math.floor(Date.now() / 1000) - 301)
        : kind === 'OTHER'
          ? signWebhook('not-the-secret', body)
          : kind === 'TAMPERED'
            ? signWebhook(SECRET, JSON.stringify({ orderId: 'B-2' }))
            : kind;
    const res = await deliver('order-hook', body, {}, signature);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('invalid_signature');
    expect(res.body.detail).toMatch(message);
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
  });

  it('checks the signature before anything else, so unsigned callers learn nothing about definitions', async () => {
    for (const key of ['order-hook', 'manual-only', 'no-such-hook']) {
      const res = await deliver(key, '{}', {}, null);
      expect(res.status).toBe(401);
    }
  });

  it('answers the same 404 for an unknown key and a definition that is not a webhook', async () => {
    const unknown = await deliver('no-such-hook', '{}');
    const manual = await deliver('manual-only', '{}');
    expect([unknown.status, manual.status]).toEqual([404, 404]);
    expect(unknown.body.code).toBe('not_found');
    expect(manual.body.code).toBe('not_found');
    expect(manual.body.detail.replace('manual-only', 'KEY')).toBe(unknown.body.detail.replace('no-such-hook', 'KEY'));
    // Not by id either: only a webhook definition's key names a hook.
    const id = (await h.api('GET', '/api/workflows/order-hook')).body.id;
    expect((await deliver(id, '{}')).status).toBe(404);
  });

  it('starts nothing twice for one X-Delivery-Id: a redelivery answers the first run', async () => {
    const deliveryId = `evt_${randomUUID()}`;
    const body = JSON.stringify({ orderId: 'C-3' });
    const first = await deliver('order-hook', body, { 'x-delivery-id': deliveryId });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ idempotentReplay: false, workflowId: idempotentWorkflowId('order-hook', 'webhook', deliveryId) });

    // Redelivered later, signed again, and concurrently.
    const again = await Promise.all([1, 2, 3].map(() => deliver('order-hook', body, { 'x-delivery-id': deliveryId })));
    for (const res of again) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ idempotentReplay: true, executionId: first.body.executionId, runId: first.body.runId });
    }
    const rows = await h.db.selectFrom('workflow_executions').select('id').where('workflow_id', '=', first.body.workflowId).execute();
    expect(rows).toHaveLength(1);

    // A delivery id and a manual Idempotency-Key with the same value are different keys.
    const manual = await h.api('POST', '/api/workflows/order-hook/execute', { triggerData: {} }, { 'idempotency-key': deliveryId });
    expect(manual.status).toBe(202);
    expect(manual.body.executionId).not.toBe(first.body.executionId);
  });

  it('starts nothing twice for one signed request without a delivery id: a replay within the tolerance answers the first run', async () => {
    const body = JSON.stringify({ orderId: 'D-4' });
    const signature = signWebhook(SECRET, body);
    const first = await deliver('order-hook', body, {}, signature);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const replays = await Promise.all([1, 2].map(() => deliver('order-hook', body, {}, signature)));
    for (const res of replays) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ idempotentReplay: true, executionId: first.body.executionId });
    }
    const rows = await h.db.selectFrom('workflow_executions').select('id').where('trigger_data', '@>', JSON.stringify({ orderId: 'D-4' }) as never).execute();
    expect(rows).toHaveLength(1);

    // The same body signed at another second is another delivery.
    const signedAt = Number(/t=(\d+)/.exec(signature)![1]);
    const later = await deliver('order-hook', body, {}, signWebhook(SECRET, body, signedAt - 1));
    expect(later.status).toBe(202);
    expect(later.body.executionId).not.toBe(first.body.executionId);
  });

  it('refuses a malformed delivery id with 400 naming the header', async () => {
    const res = await deliver('order-hook', '{}', { 'x-delivery-id': 'evt 1' });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: '$.headers["x-delivery-id"]', message: expect.any(String) }]);
  });

  it('validates the body like execute validates trigger data', async () => {
    const array = await deliver('order-hook', '[1,2]');
    expect(array.status).toBe(400);
    expect(array.body.errors[0].path).toBe('$.body');

    let nested: unknown = {};
    for (let i = 1; i < 33; i++) nested = { next: nested };
    const deep = await deliver('order-hook', JSON.stringify(nested));
    expect(deep.status).toBe(400);
    expect(deep.body.errors).toEqual([{ path: '$.body', message: 'is nested deeper than 32 levels' }]);

    const schema = await deliver('strict-hook', JSON.stringify({ orderId: 17 }));
    expect(schema.status).toBe(400);
    expect(schema.body.errors[0].path).toBe('$.body.orderId');
    expect((await deliver('strict-hook', JSON.stringify({ orderId: '17' }))).status).toBe(202);

    const broken = await deliver('order-hook', '{"orderId": ');
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('invalid_json');

    const form = await h.api('POST', '/api/hooks/order-hook', 'orderId=1', { 'content-type': 'application/x-www-form-urlencoded', 'x-signature': signWebhook(SECRET, 'orderId=1') }, { key: null });
    expect(form.status).toBe(415);
    expect(form.body.code).toBe('unsupported_media_type');
  });

  it('refuses a disabled webhook definition with 409', async () => {
    const res = await deliver('paused-hook', '{}');
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('definition_disabled');
  });

  it('records runs as triggered by webhook, for the Temporal search attributes too', async () => {
    const res = await deliver('order-hook', JSON.stringify({ orderId: 'D-4' }));
    const description = await eventually(async () => {
      const d = await h.client.workflow.getHandle(res.body.workflowId).describe();
      return d.searchAttributes?.TriggerType ? d : undefined;
    });
    expect(description.searchAttributes.TriggerType).toEqual(['webhook']);
  });
});

describe('without WEBHOOK_SIGNATURE_SECRET', () => {
  it('answers 503 webhooks_not_configured, signed or not', async () => {
    const bare = await createHarness({ worker: false });
    try {
      const body = '{}';
      for (const signature of [null, signWebhook('anything', body)]) {
        const res = await bare.api('POST', '/api/hooks/order-hook', body, signature ? { 'x-signature': signature } : {}, { key: null });
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('webhooks_not_configured');
      }
    } finally {
      await bare.close();
    }
  });
});
