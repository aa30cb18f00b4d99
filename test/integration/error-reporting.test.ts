/**
 * Error reports for real: the Sentry SDK, started as the entry points start
 * it, sends to a loopback server standing in for Sentry, which keeps every
 * envelope as it arrives. A gateway 500 (its database failing in a way it
 * does not know) and an unexpected activity failure each arrive as one
 * event; typed failures and handled errors send nothing; and no API key,
 * signature, cookie, request body or configured secret is anywhere in what
 * was sent.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as Sentry from '@sentry/node';
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/schema';
import { createApp } from '../../src/gateway/app';
import { signLegacyWebhook, signStandardWebhook } from '../../src/gateway/webhook-signature';
import { createLogger } from '../../src/logger';
import { flushErrorReports, initErrorReporting } from '../../src/observability/sentry';
import { reportUnexpectedActivityFailures } from '../../src/worker/report-failures';
import { createHarness, eventually, type Harness } from '../support/harness';

const SECRETS = {
  WEBHOOK_SIGNATURE_SECRET: 'whsec_ZXJyb3ItcmVwb3J0aW5nLXdlYmhvb2sta2V5LTdmM2E=',
  SLACK_BOT_TOKEN: 'xoxb-error-reporting-token-91c2',
  SMTP_PASS: 'smtp-pass-error-reporting-55e1',
  HTTP_SECRET_PARTNER: 'partner-token-error-reporting-0b9d',
};
const COOKIE = 'session-cookie-error-reporting-4d2e';
const BODY_MARKER = 'body-marker-error-reporting-a11f';
/** How long a flush may take: it returns as soon as every report reached the stand-in, so only a stuck one waits this out. */
const FLUSH_MS = 30_000;

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  raw: string;
}
/** Every envelope the stand-in received, decompressed. */
const received: Received[] = [];
let sink: Server;
let dsn: string;
let h: Harness;

beforeAll(async () => {
  sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const raw = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
      received.push({ url: req.url ?? '', headers: req.headers, raw });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  dsn = `http://publickey@127.0.0.1:${(sink.address() as AddressInfo).port}/1`;

  h = await createHarness({ env: { ...SECRETS, SENTRY_DSN: dsn }, worker: false });
  // As the entry points do, from the same configuration.
  expect(await initErrorReporting(h.config, 'gateway')).toBe(true);
  const res = await h.api('POST', '/api/workflows', { key: 'reported', name: 'Reported', category: 'tests', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
  expect(res.status).toBe(201);
});

afterAll(async () => {
  await Sentry.close(2_000);
  await h?.close();
  await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
});

interface EnvelopeItem {
  header: { type: string };
  payload: any;
}

function itemsOf(envelope: Received): EnvelopeItem[] {
  const lines = envelope.raw.split('\n');
  const items: EnvelopeItem[] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    if (!lines[i]) break;
    items.push({ header: JSON.parse(lines[i]!), payload: JSON.parse(lines[i + 1]!) });
  }
  return items;
}

const events = () => received.flatMap(itemsOf).filter((item) => item.header.type === 'event').map((item) => item.payload);
const everythingSent = () => received.map((r) => `${r.url}\n${JSON.stringify(r.headers)}\n${r.raw}`).join('\n');

/** The secrets that must not leave: configured ones, and what this file sends the gateway. */
function forbidden(extra: string[] = []): string[] {
  return [...Object.values(SECRETS), h.config.database.url, COOKIE, BODY_MARKER, ...extra];
}

/** A database whose definition lookups fail with an error the gateway does not know, naming secrets. */
function failingDefinitions(db: Kysely<Database>, message: string): Kysely<Database> {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'selectFrom') {
        return (table: string) => {
          if (String(table).startsWith('workflow_definitions')) throw new Error(message);
          return target.selectFrom(table as never);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('the gateway', () => {
  it('reports a 500 once, without credentials, body or secrets', async () => {
    const key = h.adminKey;
    const message = `relation lookup failed on ${h.config.database.url} (token ${SECRETS.SLACK_BOT_TOKEN}, caller ${key})`;
    const app = createApp({
      config: h.config,
      db: failingDefinitions(h.db, message),
      temporal: { connection: h.connection, client: h.client },
      logger: createLogger({ logLevel: 'silent' }, 'test'),
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const raw = JSON.stringify({ triggerData: { token: SECRETS.HTTP_SECRET_PARTNER, note: BODY_MARKER } });
    const signature = signLegacyWebhook(SECRETS.WEBHOOK_SIGNATURE_SECRET, raw);
    const standardSignature = signStandardWebhook(SECRETS.WEBHOOK_SIGNATURE_SECRET, 'evt_reported', raw)['webhook-signature'];
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/workflows/reported/execute`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${key}`,
          'x-api-key': key,
          'x-signature': signature,
          'webhook-signature': standardSignature,
          cookie: `session=${COOKIE}`,
          'x-request-id': 'reported-500',
        },
        body: raw,
      });
      expect(res.status).toBe(500);
      expect(((await res.json()) as { code: string }).code).toBe('internal_error');
    } finally {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    }

    expect(await flushErrorReports(FLUSH_MS)).toBe(true);
    const [event] = await eventually(async () => (events().length > 0 ? events() : undefined), undefined, 'the event at the stand-in');
    expect(events()).toHaveLength(1);

    // Sent where the DSN says, with its public key.
    const envelope = received.find((r) => itemsOf(r).some((i) => i.header.type === 'event'))!;
    expect(envelope.url).toMatch(/^\/api\/1\/envelope\/\?/);
    expect(new URLSearchParams(envelope.url.split('?')[1]).get('sentry_key')).toBe('publickey');

    // The error, with what finds it again: the request id and the route, not the path.
    expect(event.exception.values[0].value).toContain('relation lookup failed on [redacted] (token [redacted], caller [redacted])');
    expect(event.tags).toMatchObject({ service: 'gateway', requestId: 'reported-500', method: 'POST', route: '/api/workflows/:id/execute' });
    expect(event.environment).toBe('test');
    for (const name of ['authorization', 'x-api-key', 'x-signature', 'webhook-signature', 'cookie']) {
      expect(Object.keys(event.request?.headers ?? {}).map((n) => n.toLowerCase())).not.toContain(name);
    }
    expect(event.request?.data).toBeUndefined();
    expect(event.request?.cookies).toBeUndefined();

    // Nothing secret anywhere in what reached the stand-in: not the key, the signature, the cookie, the body or a configured secret.
    const sent = everythingSent();
    for (const secret of forbidden([key, key.slice(4), signature, signature.split('v1=')[1]!, standardSignature, standardSignature.slice(3)])) expect(sent).not.toContain(secret);
  });

  it('does not report the errors it answers on purpose', async () => {
    const before = events().length;
    expect((await h.api('GET', '/api/workflows/no-such-definition')).status).toBe(404);
    expect((await h.api('POST', '/api/workflows/reported/execute', { triggerData: 'not an object' })).status).toBe(400);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key: null })).status).toBe(401);
    // Flushed: whatever was reported has reached the stand-in, which records it before it answers.
    expect(await flushErrorReports(FLUSH_MS)).toBe(true);
    expect(events()).toHaveLength(before);
  });
});

describe('the worker', () => {
  const context = {
    info: {
      activityType: 'sendEmail',
      workflowType: 'interpreterWorkflow',
      taskQueue: 'reported-queue',
      attempt: 2,
      workflowExecution: { workflowId: 'reported-wf-1', runId: 'reported-run-1' },
    },
  } as unknown as Context;
  const input = { args: [{ to: 'args-marker@example.com', password: SECRETS.SMTP_PASS }], headers: {} };

  it('reports an activity failure nobody meant, once, without the arguments or secrets', async () => {
    const before = events().length;
    const { inbound } = reportUnexpectedActivityFailures(context);
    await expect(
      inbound!.execute!(input, async () => {
        throw new Error(`connection pool broke while using ${SECRETS.SMTP_PASS}`);
      }),
    ).rejects.toThrow(/connection pool broke/);

    expect(await flushErrorReports(FLUSH_MS)).toBe(true);
    await eventually(async () => (events().length > before ? true : undefined), undefined, 'the worker event');
    const added = events().slice(before);
    expect(added).toHaveLength(1);
    expect(added[0].exception.values[0].value).toBe('connection pool broke while using [redacted]');
    expect(added[0].tags).toMatchObject({ service: 'worker', activityType: 'sendEmail', workflowType: 'interpreterWorkflow', attempt: 2 });
    expect(added[0].extra).toMatchObject({ workflowId: 'reported-wf-1' });
    const sent = everythingSent();
    expect(sent).not.toContain('args-marker@example.com');
    for (const secret of forbidden()) expect(sent).not.toContain(secret);
  });

  it('does not report the failures activities throw on purpose', async () => {
    const before = events().length;
    const { inbound } = reportUnexpectedActivityFailures(context);
    await expect(
      inbound!.execute!(input, async () => {
        throw ApplicationFailure.create({ type: 'ProviderRejected', message: 'the provider refused the message', nonRetryable: true });
      }),
    ).rejects.toThrow(/refused/);
    await expect(inbound!.execute!(input, async () => 'sent')).resolves.toBe('sent');
    // Flushed: whatever was reported has reached the stand-in, which records it before it answers.
    expect(await flushErrorReports(FLUSH_MS)).toBe(true);
    expect(events()).toHaveLength(before);
  });
});
