/**
 * Webhook triggers: POST /api/hooks/:key, signed with WEBHOOK_SIGNATURE_SECRET
 * instead of an API key, starts the webhook definition with that key. Standard
 * Webhooks signatures by default: the delivery id is signed, so a captured
 * delivery sent again under a new id is refused, and the same id starts
 * nothing new. The legacy X-Signature scheme behind WEBHOOK_SIGNATURE_SCHEME.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotentWorkflowId } from '../../src/executions/idempotent-start';
import { signLegacyWebhook, signStandardWebhook } from '../../src/gateway/webhook-signature';
import { createHarness, eventually, type Harness } from '../support/harness';

/** whsec_ and the base64 of 34 bytes, as a sender is given it. */
const SECRET = `whsec_${Buffer.from('hooks-test-secret-0123456789abcdef').toString('base64')}`;
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

/** The headers of `body` signed as a sender would: a new delivery id unless one is given, signed now unless told when. */
function signed(body: string, id = `evt_${randomUUID()}`, timestamp?: number, secret = SECRET): Record<string, string> {
  return signStandardWebhook(secret, id, body, timestamp);
}

/** Posts `body` (sent byte for byte) to a hook with no API key, with these headers (signed by default). */
function deliver(key: string, body: string, headers: Record<string, string> = signed(body), harness = h) {
  return harness.api('POST', `/api/hooks/${key}`, body, headers, { key: null });
}

/** How many runs hold this trigger data. */
async function runsWith(data: Record<string, unknown>, harness = h): Promise<number> {
  const rows = await harness.db.selectFrom('workflow_executions').select('id').where('trigger_data', '@>', JSON.stringify(data) as never).execute();
  return rows.length;
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
    expect((await deliver('order-hook', reformatted, signed(body))).status).toBe(401);
  });

  it('refuses a captured delivery sent again under a new id: the id is signed, and nothing starts', async () => {
    const body = JSON.stringify({ orderId: `captured-${randomUUID()}` });
    const captured = signed(body);
    const first = await deliver('order-hook', body, captured);
    expect(first.status, JSON.stringify(first.body)).toBe(202);

    for (const id of ['evt_made_up_1', 'evt_made_up_2', `${captured['webhook-id']}x`]) {
      const replay = await deliver('order-hook', body, { ...captured, 'webhook-id': id });
      expect(replay.status, id).toBe(401);
      expect(replay.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(replay.body).toMatchObject({
        code: 'invalid_signature',
        detail: expect.stringMatching(/signature does not match.*a changed id, timestamp or body fails/),
        errors: [{ path: '$.headers["webhook-signature"]', message: 'does not match the id, timestamp and body' }],
      });
    }
    // Nor under a new timestamp, the other way to make it look new.
    const moved = await deliver('order-hook', body, { ...captured, 'webhook-timestamp': String(Number(captured['webhook-timestamp']) + 1) });
    expect(moved.status).toBe(401);
    expect(await runsWith(JSON.parse(body))).toBe(1);
  });

  it('starts one run for one delivery id: the same id again, as captured, re-signed later, or at once, answers the first run', async () => {
    const id = `evt_${randomUUID()}`;
    const body = JSON.stringify({ orderId: `once-${id}` });
    const captured = signed(body, id);
    const first = await deliver('order-hook', body, captured);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ idempotentReplay: false, workflowId: idempotentWorkflowId('order-hook', 'webhook', id) });

    // Sent again as captured, redelivered by the sender with a new signature a second earlier, and three at once.
    const signedAt = Number(captured['webhook-timestamp']);
    const again = await Promise.all([captured, signed(body, id, signedAt - 1), ...[1, 2, 3].map(() => signed(body, id))].map((headers) => deliver('order-hook', body, headers)));
    for (const res of again) {
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ idempotentReplay: true, executionId: first.body.executionId, runId: first.body.runId });
    }
    expect(await runsWith(JSON.parse(body))).toBe(1);

    // A delivery id and a manual Idempotency-Key with the same value are different keys.
    const manual = await h.api('POST', '/api/workflows/order-hook/execute', { triggerData: {} }, { 'idempotency-key': id });
    expect(manual.status).toBe(202);
    expect(manual.body.executionId).not.toBe(first.body.executionId);
  });

  it.each([
    ['no signature', () => ({}), 'webhook-id', /webhook-id header is missing/],
    ['no webhook-signature', (body: string) => ({ ...signed(body), 'webhook-signature': '' }), 'webhook-signature', /webhook-signature header is missing/],
    ['a malformed signature', (body: string) => ({ ...signed(body), 'webhook-signature': 'sha256=deadbeef' }), 'webhook-signature', /webhook-signature header is malformed/],
    ['a malformed id', (body: string) => signed(body, 'evt.1'), 'webhook-id', /webhook-id header must be 1 to 200 characters/],
    ['a timestamp in milliseconds', (body: string) => ({ ...signed(body), 'webhook-timestamp': String(Date.now()) }), 'webhook-timestamp', /must be the time of sending in unix seconds/],
    ['a signature too old to trust', (body: string) => signed(body, undefined, Math.floor(Date.now() / 1000) - 301), 'webhook-timestamp', /outside the tolerance of 300 s/],
    ['a signature from another secret', (body: string) => signed(body, undefined, undefined, `whsec_${Buffer.alloc(32, 9).toString('base64')}`), 'webhook-signature', /does not match/],
    ['a signature of another body', () => signed(JSON.stringify({ orderId: 'B-2' })), 'webhook-signature', /does not match/],
    ['a legacy X-Signature', (body: string) => ({ 'x-signature': signLegacyWebhook(SECRET, body) }), 'webhook-signature', /X-Signature, the legacy scheme, is turned off/],
  ])('refuses %s with a 401 that says why', async (_name, headers, header, message) => {
    const body = JSON.stringify({ orderId: 'B-1' });
    const res = await deliver('order-hook', body, headers(body));
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('invalid_signature');
    expect(res.body.detail).toMatch(message);
    expect(res.body.errors).toEqual([{ path: `$.headers["${header}"]`, message: expect.any(String) }]);
    expect(JSON.stringify(res.body)).not.toContain(SECRET.slice(6));
  });

  it('checks the signature before anything else, so unsigned callers learn nothing about definitions', async () => {
    for (const key of ['order-hook', 'manual-only', 'no-such-hook']) {
      const res = await deliver(key, '{}', {});
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

    const form = await h.api('POST', '/api/hooks/order-hook', 'orderId=1', { 'content-type': 'application/x-www-form-urlencoded', ...signed('orderId=1') }, { key: null });
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

describe('WEBHOOK_SIGNATURE_SCHEME=both: existing X-Signature senders beside standard ones', () => {
  const LEGACY_SECRET = 'hooks-legacy-secret-0123456789abcdef';
  let both: Harness;

  beforeAll(async () => {
    both = await createHarness({ worker: false, env: { WEBHOOK_SIGNATURE_SECRET: `${SECRET}, ${LEGACY_SECRET}`, WEBHOOK_SIGNATURE_SCHEME: 'both' } });
    const res = await both.api('POST', '/api/workflows', { key: 'order-hook', name: 'Order hook', category: 'tests', trigger: { type: 'webhook' }, steps: [{ id: 'noop', type: 'set', values: {} }] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  afterAll(async () => {
    await both?.close();
  });

  it('takes X-Signature with the secret as written, and an X-Delivery-Id starts nothing twice', async () => {
    const deliveryId = `evt_${randomUUID()}`;
    const body = JSON.stringify({ orderId: `legacy-${deliveryId}` });
    const first = await deliver('order-hook', body, { 'x-signature': signLegacyWebhook(LEGACY_SECRET, body), 'x-delivery-id': deliveryId }, both);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body.workflowId).toBe(idempotentWorkflowId('order-hook', 'webhook', deliveryId));
    const again = await deliver('order-hook', body, { 'x-signature': signLegacyWebhook(LEGACY_SECRET, body), 'x-delivery-id': deliveryId }, both);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ idempotentReplay: true, executionId: first.body.executionId });
    expect(await runsWith(JSON.parse(body), both)).toBe(1);
  });

  it('knows a legacy delivery without a delivery id by its signature: the same signed request answers the first run', async () => {
    const body = JSON.stringify({ orderId: `legacy-${randomUUID()}` });
    const signature = signLegacyWebhook(LEGACY_SECRET, body);
    const first = await deliver('order-hook', body, { 'x-signature': signature }, both);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const replays = await Promise.all([1, 2].map(() => deliver('order-hook', body, { 'x-signature': signature }, both)));
    for (const res of replays) expect(res.body).toMatchObject({ idempotentReplay: true, executionId: first.body.executionId });
    // The same body signed at another second is another delivery.
    const signedAt = Number(/t=(\d+)/.exec(signature)![1]);
    const later = await deliver('order-hook', body, { 'x-signature': signLegacyWebhook(LEGACY_SECRET, body, signedAt - 1) }, both);
    expect(later.status).toBe(202);
    expect(await runsWith(JSON.parse(body), both)).toBe(2);
  });

  it('refuses a malformed X-Delivery-Id with 400 naming the header', async () => {
    const res = await deliver('order-hook', '{}', { 'x-signature': signLegacyWebhook(LEGACY_SECRET, '{}'), 'x-delivery-id': 'evt 1' }, both);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: '$.headers["x-delivery-id"]', message: expect.any(String) }]);
  });

  it('holds a delivery with webhook-* headers to its standard signature, X-Signature or not', async () => {
    const body = JSON.stringify({ orderId: `both-${randomUUID()}` });
    const headers = { ...signed(body), 'x-signature': signLegacyWebhook(LEGACY_SECRET, body) };
    expect((await deliver('order-hook', body, headers, both)).status).toBe(202);
    const replay = await deliver('order-hook', body, { ...headers, 'webhook-id': 'evt_made_up', 'x-delivery-id': 'evt_made_up' }, both);
    expect(replay.status).toBe(401);
    expect(replay.body.errors[0].path).toBe('$.headers["webhook-signature"]');
    // A legacy secret does not key standard signatures.
    const byLegacySecret = await deliver('order-hook', body, signStandardWebhook(`whsec_${Buffer.from(LEGACY_SECRET).toString('base64')}`, 'evt_x', body), both);
    expect(byLegacySecret.status).toBe(401);
    expect(await runsWith(JSON.parse(body), both)).toBe(1);
  });
});

describe('without WEBHOOK_SIGNATURE_SECRET', () => {
  it('answers 503 webhooks_not_configured, signed or not', async () => {
    const bare = await createHarness({ worker: false });
    try {
      const body = '{}';
      for (const headers of [{}, signed(body)]) {
        const res = await bare.api('POST', '/api/hooks/order-hook', body, headers, { key: null });
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('webhooks_not_configured');
      }
    } finally {
      await bare.close();
    }
  });
});
