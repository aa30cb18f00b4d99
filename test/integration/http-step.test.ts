/**
 * The `http` step against real HTTP servers on loopback: responses feed later
 * steps, secrets go in headers by name only, and requests to non-public
 * addresses are refused unless allowed, on every redirect too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { loadConfig } from '../../src/config';
import { createHarness, type Harness } from '../support/harness';
import { LOCAL_READ_MAX_BYTES } from '../../workflows/run/local-reads';
import { readableHistory, timerSummaries } from '../support/history';

const API_TOKEN = 'api-token-41d7e2';
let h: Harness;
let peer: HttpSink;

beforeAll(async () => {
  peer = await startHttpSink();
  h = await createHarness({ env: { HTTP_ALLOWED_HOSTS: '127.0.0.1', HTTP_SECRET_CRM_TOKEN: API_TOKEN } });
});

beforeEach(() => {
  peer.requests.length = 0;
  peer.respond = (req) => ({ status: 201, body: { id: 'cus_42', echo: req.json } });
});

afterAll(async () => {
  await h?.close();
  await peer?.close();
});

describe('the http step', () => {
  it('sends a templated request with a secret header and hands the parsed response to later steps', async () => {
    const def = await h.api('POST', '/api/workflows', {
      key: 'create-customer',
      name: 'Create customer',
      steps: [
        {
          id: 'create',
          type: 'http',
          method: 'POST',
          url: `${peer.url}/customers?source={{ input.source }}`,
          headers: { 'x-trace': '{{ run.executionId }}' },
          secretHeaders: { authorization: 'CRM_TOKEN' },
          body: { name: '{{ input.name }}', vip: '{{ input.total > 100 }}' },
        },
        { id: 'remember', type: 'set', values: { customerId: '{{ steps.create.output.body.id }}', status: '{{ steps.create.output.status }}' } },
      ],
    });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: { name: 'Ada', total: 150, source: 'web' } });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    const result = await handle.result();
    expect(result.vars).toEqual({ customerId: 'cus_42', status: 201 });

    expect(peer.requests).toHaveLength(1);
    const req = peer.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/customers?source=web');
    expect(req.json).toEqual({ name: 'Ada', vip: true });
    expect(req.headers.authorization).toBe(API_TOKEN);
    expect(req.headers['x-trace']).toBe(started.body.executionId);
    const history = await readableHistory(handle);
    expect(history).toContain('CRM_TOKEN');
    expect(history).not.toContain(API_TOKEN);
  });

  it('sends a form-encoded body: fields rendered, a list as its field repeated, a null field left out', async () => {
    // The peer insists on a form, as an OAuth token endpoint does.
    peer.respond = (req) =>
      req.headers['content-type'] === 'application/x-www-form-urlencoded'
        ? { status: 200, body: { access_token: 'tok-1', fields: [...new URLSearchParams(req.body)] } }
        : { status: 415, body: { error: 'expected a form' } };
    const def = await h.api('POST', '/api/workflows', {
      key: 'token-request',
      name: 'Token request',
      steps: [
        {
          id: 'token',
          type: 'http',
          method: 'POST',
          url: `${peer.url}/oauth/token`,
          secretHeaders: { authorization: 'CRM_TOKEN' },
          form: { grant_type: 'client_credentials', scope: '{{ input.scope }}', tag: ['a', '{{ input.tag }}'], qty: '{{ input.qty }}', note: '{{ input.note }}' },
        },
        { id: 'keep', type: 'set', values: { token: '{{ steps.token.output.body.access_token }}' } },
      ],
    });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, {
      triggerData: { scope: 'read write', tag: 'b&c', qty: 2, note: null },
    });
    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    expect(result.vars).toEqual({ token: 'tok-1' });

    expect(peer.requests).toHaveLength(1);
    const req = peer.requests[0]!;
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // Stored definitions are JSON objects, which keep no field order: compare the fields, in order per field.
    expect(req.body).toContain('tag=a&tag=b%26c');
    expect([...new URLSearchParams(req.body)].sort()).toEqual([
      ['grant_type', 'client_credentials'],
      ['qty', '2'],
      ['scope', 'read write'],
      ['tag', 'a'],
      ['tag', 'b&c'],
    ]);
    expect(req.body).toContain('scope=read+write');
    expect(req.headers.authorization).toBe(API_TOKEN);
  });

  it('refuses a form beside a body, or on a GET, when the definition is saved', async () => {
    const res = await h.api('POST', '/api/workflows/validate', {
      key: 'bad-forms',
      name: 'Bad forms',
      steps: [
        { id: 'both', type: 'http', method: 'POST', url: `${peer.url}/x`, body: { a: 1 }, form: { a: '1' } },
        { id: 'get', type: 'http', url: `${peer.url}/x`, form: { a: '1' } },
        { id: 'nested', type: 'http', method: 'PUT', url: `${peer.url}/x`, form: { a: { b: 1 } } },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['$.steps[0].form', '$.steps[1].form', '$.steps[2].form.a']);
  });

  it('fails for good when a form field renders to an object', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    await expect(
      activities.httpRequest({ deliveryKey: 'k/form', method: 'POST', url: `${peer.url}/x`, form: { customer: { name: 'Ada' } } }),
    ).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: expect.stringMatching(/^http step input is invalid: form\.customer /) });
    expect(peer.requests).toHaveLength(0);
  });

  it('keeps a secret header on a same-origin redirect and drops it on a redirect to another origin', async () => {
    const elsewhere = await startHttpSink();
    try {
      peer.respond = (req) =>
        req.path === '/old' ? { status: 301, headers: { location: '/new' } } : { status: 302, headers: { location: `${elsewhere.url}/final` } };
      const activities = createActivities({ config: h.config, db: h.db });
      const res = await activities.httpRequest({ deliveryKey: 'k/redirect', url: `${peer.url}/old`, secretHeaders: { authorization: 'CRM_TOKEN' } });
      expect(res.status).toBe(200);
      expect(peer.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
        ['/old', API_TOKEN],
        ['/new', API_TOKEN],
      ]);
      expect(elsewhere.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/final', undefined]]);
    } finally {
      await elsewhere.close();
    }
  });

  it('classifies answers: 5xx and 429 are retried, other 4xx fail for good', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const call = () => activities.httpRequest({ deliveryKey: `k/${randomUUID()}`, url: `${peer.url}/x` });
    peer.respond = () => ({ status: 503 });
    await expect(call()).rejects.toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    peer.respond = () => ({ status: 429, headers: { 'retry-after': '3' } });
    await expect(call()).rejects.toMatchObject({ type: 'ProviderRateLimited', nextRetryDelay: 3000 });
    peer.respond = () => ({ status: 404 });
    await expect(call()).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    peer.respond = () => ({ status: 401 });
    await expect(call()).rejects.toMatchObject({ type: 'ProviderAuthFailed', nonRetryable: true });
  });

  it('fails for good naming a secret that is not configured', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    await expect(
      activities.httpRequest({ deliveryKey: 'k/1', url: `${peer.url}/x`, secretHeaders: { authorization: 'MISSING' } }),
    ).rejects.toMatchObject({ type: 'ChannelNotConfigured', message: expect.stringMatching(/HTTP_SECRET_MISSING/) });
  });
});

describe('reads as local activities', () => {
  it('sends reads in the workflow task as local activities; a read that overruns goes again as an ordinary activity, and so do the run\'s later reads', async () => {
    // The first /slow request is held until the step sends it again as an ordinary activity: the
    // local attempt has given up by its own bound by then.
    let fallback!: () => void;
    const sentAgain = new Promise<void>((resolve) => (fallback = resolve));
    peer.respond = (req) => ({ status: 200, body: { path: req.path } });
    let slow = 0;
    peer.onArrival = (req) => {
      if (!req.path.startsWith('/slow')) return undefined;
      slow += 1;
      return slow === 1 ? sentAgain : fallback();
    };
    try {
      const def = await h.api('POST', '/api/workflows', {
        key: 'local-reads',
        name: 'Local reads',
        steps: [
          { id: 'fast', type: 'http', url: `${peer.url}/fast` },
          { id: 'write', type: 'http', method: 'POST', url: `${peer.url}/write`, body: { a: 1 } },
          { id: 'slow', type: 'http', url: `${peer.url}/slow` },
          { id: 'after', type: 'http', method: 'HEAD', url: `${peer.url}/after` },
          { id: 'keep', type: 'set', values: { fast: '{{ steps.fast.output.body.path }}', slow: '{{ steps.slow.output.body.path }}' } },
        ],
      });
      expect(def.status, JSON.stringify(def.body)).toBe(201);
      const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
      const handle = h.client.workflow.getHandle(started.body.workflowId);
      expect((await handle.result()).vars).toEqual({ fast: '/fast', slow: '/slow' });
      // The slow read arrived twice: its local attempt, held, and the ordinary activity.
      expect(slow).toBe(2);
      expect(peer.requests.filter((r) => r.path !== '/slow').map((r) => `${r.method} ${r.path}`)).toEqual(['GET /fast', 'POST /write', 'HEAD /after']);

      const events = (await handle.fetchHistory()).events ?? [];
      const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
      // /fast answered; the slow read's local attempt timed out (its marker records the failure).
      expect(markers).toHaveLength(2);
      expect(markers[0]!.markerRecordedEventAttributes?.failure).toBeFalsy();
      expect(markers[1]!.markerRecordedEventAttributes?.failure).toBeTruthy();
      const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
      expect(scheduled).toEqual(['httpRequest', 'httpRequest', 'httpRequest']);

      // The run's history through the API names the local read by its step's summary.
      const history = await h.api('GET', `/api/executions/${started.body.executionId}/history`);
      expect(history.status).toBe(200);
      const entries = history.body.events as { type: string; summary?: string }[];
      expect(entries.filter((e) => e.type === 'MarkerRecorded').map((e) => e.summary)).toEqual(['fast: GET request', 'slow: GET request']);
    } finally {
      fallback();
      peer.onArrival = undefined;
    }
  });
});

describe('reads as local activities, a large answer', () => {
  it('reads an answer past what a local read keeps again as an ordinary activity, in full', async () => {
    const text = 'x'.repeat(LOCAL_READ_MAX_BYTES + 1);
    peer.respond = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: text });
    const def = await h.api('POST', '/api/workflows', {
      key: 'local-read-large',
      name: 'Large read',
      steps: [
        { id: 'read', type: 'http', url: `${peer.url}/large` },
        { id: 'keep', type: 'set', values: { size: '{{ $length(steps.read.output.body) }}' } },
      ],
    });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    const result = await handle.result();
    expect(result.vars).toEqual({ size: text.length });
    expect(peer.requests.map((r) => r.path)).toEqual(['/large', '/large']);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.markerRecordedEventAttributes?.failure?.message?.includes(`larger than ${LOCAL_READ_MAX_BYTES} bytes`))).toHaveLength(1);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(1);
  });
});

describe('reads as local activities, rate-limited', () => {
  it('waits as long as a peer that answered the local attempt with 429 asked, then sends the read as an ordinary activity', async () => {
    let calls = 0;
    peer.respond = () => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' }, body: { error: 'slow down' } } : { status: 200, body: { ok: true } });
    const def = await h.api('POST', '/api/workflows', { key: 'local-read-429', name: 'Rate-limited read', steps: [{ id: 'read', type: 'http', url: `${peer.url}/limited` }] });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    await handle.result();
    expect(calls).toBe(2);
    expect(await timerSummaries(handle)).toEqual([expect.stringMatching(/^read: the peer asked to be retried later until /)]);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)).toEqual(['httpRequest']);
  });
});

describe('server-side request forgery', () => {
  const strict = (allowed = '') =>
    createActivities({
      config: loadConfig({ DATABASE_URL: h.databaseUrl, HTTP_ALLOWED_HOSTS: allowed }),
      db: h.db,
    });

  it.each([
    // Only loopback targets here: if the guard ever broke, nothing would leave the machine.
    // Private, link-local and metadata ranges are covered by the address policy's unit test.
    ['loopback by address', () => `${peer.url}/x`],
    ['loopback by a name that resolves to it', () => `http://localhost:${new URL(peer.url).port}/`],
    ['the unspecified address', () => `http://0.0.0.0:${new URL(peer.url).port}/`],
    ['IPv6 loopback', () => `http://[::1]:${new URL(peer.url).port}/`],
  ])('refuses %s by default, before any byte is sent', async (_name, url) => {
    await expect(strict().httpRequest({ deliveryKey: 'k/ssrf', url: url(), timeoutMs: 2_000 })).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: expect.stringMatching(/not a public address/),
    });
    expect(peer.requests).toHaveLength(0);
  });

  it('checks every redirect: an allowed host cannot bounce the request to a forbidden address', async () => {
    const port = new URL(peer.url).port;
    peer.respond = (req) =>
      req.path === '/start' ? { status: 302, headers: { location: `http://127.0.0.1:${port}/internal` } } : { status: 200, body: { secret: true } };
    await expect(strict('localhost').httpRequest({ deliveryKey: 'k/redirect', url: `http://localhost:${port}/start` })).rejects.toMatchObject({
      type: 'ProviderRejected',
      message: expect.stringMatching(/refused to connect to 127\.0\.0\.1/),
    });
    expect(peer.requests.map((r) => r.path)).toEqual(['/start']);
  });
});
