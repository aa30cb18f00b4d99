/**
 * Email attachments through real protocols: files fetched from a loopback
 * HTTP peer (allowed by HTTP_ALLOWED_HOSTS, refused without it), text from a
 * step's output and base64 content, arriving byte for byte in a multipart
 * message at the SMTP sink; sizes capped per file and per message.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { type HttpSink, type SmtpSink, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { loadConfig } from '../../src/config';
import { createHarness, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';

const MAX_FILE = 4096;
const MAX_TOTAL = 6000;
/** The value of HTTP_SECRET_FILES_TOKEN: the file server's /private/ files need it as their authorization header. */
const FILES_TOKEN = 'Bearer files-token-9e2c71';

let h: Harness;
let smtp: SmtpSink;
let files: HttpSink;
/** Served by the peer at /files/<name>. */
const served = new Map<string, { bytes: Buffer; type: string }>();

const smtpEnv = () => ({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'automation@example.test' });

beforeAll(async () => {
  [smtp, files] = await Promise.all([startSmtpSink(), startHttpSink()]);
  h = await createHarness({
    env: {
      ...smtpEnv(),
      HTTP_ALLOWED_HOSTS: '127.0.0.1',
      HTTP_SECRET_FILES_TOKEN: FILES_TOKEN,
      EMAIL_MAX_ATTACHMENT_BYTES: String(MAX_FILE),
      EMAIL_MAX_TOTAL_ATTACHMENT_BYTES: String(MAX_TOTAL),
    },
  });
});

beforeEach(() => {
  smtp.messages.length = 0;
  files.requests.length = 0;
  served.clear();
  files.respond = (req) => {
    if (req.path.startsWith('/private/') && req.headers.authorization !== FILES_TOKEN) return { status: 401, body: 'who are you?' };
    const file = served.get(req.path.replace(/^\/(files|private)\//, ''));
    return file ? { status: 200, body: file.bytes, headers: { 'content-type': file.type } } : { status: 404, body: 'no such file' };
  };
});

afterAll(async () => {
  await h?.close();
  await Promise.all([smtp?.close(), files?.close()]);
});

interface Part {
  headers: Record<string, string>;
  body: string;
}

/** The leaf parts of a MIME message, with unfolded, lower-cased header names. */
function mimeParts(raw: string): Part[] {
  const split = raw.indexOf('\r\n\r\n');
  const headerText = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  const headers: Record<string, string> = {};
  for (const line of headerText.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const boundary = /multipart\/[^;]+;.*boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (!boundary) return [{ headers, body }];
  return body
    .split(`--${boundary}`)
    .slice(1)
    .filter((chunk) => !chunk.startsWith('--'))
    .flatMap((chunk) => mimeParts(chunk.replace(/^\r\n/, '')));
}

/** Attachments of a received message by file name: their decoded bytes and declared type. */
function attachmentsOf(raw: string): Map<string, { type: string; bytes: Buffer }> {
  const found = new Map<string, { type: string; bytes: Buffer }>();
  for (const part of mimeParts(raw)) {
    const filename = /filename="?([^";]+)"?/i.exec(part.headers['content-disposition'] ?? '')?.[1];
    if (!filename) continue;
    const encoding = (part.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
    const text = part.body.replace(/\r\n$/, '');
    const bytes =
      encoding === 'base64'
        ? Buffer.from(text.replace(/\s+/g, ''), 'base64')
        : encoding === 'quoted-printable'
          ? Buffer.from(
              text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            )
          : Buffer.from(text, 'utf8');
    found.set(filename, { type: (part.headers['content-type'] ?? '').split(';')[0]!.trim(), bytes });
  }
  return found;
}

async function run(definition: Record<string, unknown>, triggerData: Record<string, unknown> = {}) {
  const created = await h.api('POST', '/api/workflows', definition);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { handle: h.client.workflow.getHandle(started.body.workflowId), executionId: started.body.executionId as string };
}

describe('email attachments in a run', () => {
  it('sends a multipart message with a fetched file, text from a step output and base64 content, byte for byte', async () => {
    const report = Buffer.concat([Buffer.from('report-marker-7f3a'), randomBytes(3000 - 18)]);
    served.set('report.bin', { bytes: report, type: 'application/octet-stream' });
    const logo = randomBytes(200);
    const { handle } = await run(
      {
        key: 'monthly-report',
        name: 'Monthly report',
        steps: [
          { id: 'prep', type: 'set', values: { summary: 'Orders: {{ input.orders }}, total {{ input.total }} EUR' } },
          {
            id: 'mail',
            type: 'email',
            to: '{{ input.email }}',
            subject: 'Your report',
            text: 'Attached.',
            attachments: [
              { filename: 'report.bin', url: `${files.url}/files/report.bin` },
              { filename: 'summary.txt', contentType: 'text/plain', content: '{{ steps.prep.output.summary }}' },
              { filename: 'logo.png', contentType: 'image/png', content: '{{ input.logo }}', encoding: 'base64' },
            ],
          },
          { id: 'after', type: 'set', values: { sent: '{{ steps.mail.output.attachments }}' } },
        ],
      },
      { email: 'ada@example.test', orders: 12, total: 340, logo: logo.toString('base64') },
    );
    const result = await handle.result();

    expect(files.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /files/report.bin']);
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.to).toEqual(['ada@example.test']);
    expect(mail.raw).toMatch(/content-type: multipart\/mixed/i);
    const attached = attachmentsOf(mail.raw);
    expect([...attached.keys()]).toEqual(['report.bin', 'summary.txt', 'logo.png']);
    expect(attached.get('report.bin')).toEqual({ type: 'application/octet-stream', bytes: report });
    expect(attached.get('summary.txt')!.bytes.toString('utf8')).toBe('Orders: 12, total 340 EUR');
    expect(attached.get('summary.txt')!.type).toBe('text/plain');
    expect(attached.get('logo.png')).toEqual({ type: 'image/png', bytes: logo });
    // The step's output names what was attached; the fetched bytes never enter the run.
    expect(result.vars.sent).toEqual([
      { filename: 'report.bin', bytes: 3000 },
      { filename: 'summary.txt', bytes: 25 },
      { filename: 'logo.png', bytes: 200 },
    ]);
    // Payloads decoded: inline content travels in the run, fetched bytes do not.
    const history = JSON.stringify(await handle.fetchHistory(), (k, v: unknown) =>
      k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(history).toContain('Orders: 12, total 340 EUR');
    expect(history).not.toContain('report-marker-7f3a');
  });

  it('fails at once, without retry, naming an attachment larger than EMAIL_MAX_ATTACHMENT_BYTES, and sends nothing', async () => {
    served.set('big.bin', { bytes: randomBytes(MAX_FILE + 1), type: 'application/octet-stream' });
    const { handle, executionId } = await run({
      key: 'oversized-attachment',
      name: 'Oversized attachment',
      steps: [
        {
          id: 'mail',
          type: 'email',
          to: 'ada@example.test',
          subject: 'Too big',
          text: 'x',
          attachments: [{ filename: 'big.bin', url: `${files.url}/files/big.bin` }],
          retry: { maximumAttempts: 5, initialInterval: '100ms' },
        },
      ],
    });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause: unknown = (err as WorkflowFailedError).cause;
    while (cause instanceof Error && cause.cause) cause = cause.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('ProviderRejected');
    expect((cause as ApplicationFailure).message).toBe(`attachment "big.bin" is larger than ${MAX_FILE} bytes (EMAIL_MAX_ATTACHMENT_BYTES)`);

    const history = await handle.fetchHistory();
    const starts = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(starts.map((e) => Number(e.activityTaskStartedEventAttributes?.attempt))).toEqual([1]);
    expect(files.requests).toHaveLength(1);
    expect(smtp.messages).toHaveLength(0);
    const row = await h.api('GET', `/api/executions/${executionId}`);
    expect(row.body.status).toBe('FAILED');
    expect(row.body.error).toContain('big.bin');
  });
});

describe('attachments fetched with a secret header', () => {
  const statement = Buffer.from('%PDF-1.4 statement-marker-51ab');

  it('sends the configured secret to the file server, and keeps it out of history and the mirror', async () => {
    served.set('statement.pdf', { bytes: statement, type: 'application/pdf' });
    const { handle, executionId } = await run(
      {
        key: 'private-statement',
        name: 'Private statement',
        steps: [
          {
            id: 'mail',
            type: 'email',
            to: '{{ input.email }}',
            subject: 'Your statement',
            text: 'Attached.',
            attachments: [{ filename: 'statement.pdf', url: `${files.url}/private/statement.pdf`, secretHeaders: { authorization: 'FILES_TOKEN' } }],
          },
        ],
      },
      { email: 'ada@example.test' },
    );
    await handle.result();

    expect(files.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/private/statement.pdf', FILES_TOKEN]]);
    expect(attachmentsOf(smtp.messages[0]!.raw).get('statement.pdf')).toEqual({ type: 'application/pdf', bytes: statement });

    const history = await readableHistory(handle);
    expect(history).toContain('FILES_TOKEN');
    const rows = JSON.stringify(
      await Promise.all([
        h.db.selectFrom('workflow_executions').selectAll().where('id', '=', executionId).execute(),
        h.db.selectFrom('workflow_execution_logs').selectAll().where('execution_id', '=', executionId).execute(),
        h.db.selectFrom('deliveries').selectAll().execute(),
      ]),
    );
    expect(rows).toContain('statement.pdf');
    for (const text of [history, rows]) expect(text).not.toContain('files-token-9e2c71');
  });

  it('fails for good on a refused secret without echoing it, and before fetching on a secret not configured', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const send = (secretHeaders: Record<string, string>, deliveryKey = `wf-${randomUUID()}/mail`) =>
      activities
        .sendEmail({
          deliveryKey,
          to: 'ada@example.test',
          subject: 's',
          text: 't',
          attachments: [{ filename: 'statement.pdf', url: `${files.url}/private/statement.pdf`, secretHeaders }],
        })
        .catch((e: unknown) => e);
    served.set('statement.pdf', { bytes: statement, type: 'application/pdf' });
    files.respond = () => ({ status: 403, body: 'token revoked' });
    const refused = await send({ authorization: 'FILES_TOKEN' });
    expect(refused).toMatchObject({ type: 'ProviderAuthFailed', nonRetryable: true, message: expect.stringMatching(/^attachment "statement\.pdf": .* answered HTTP 403$/) });
    expect(JSON.stringify(refused, Object.getOwnPropertyNames(refused))).not.toContain('files-token-9e2c71');

    files.requests.length = 0;
    const deliveryKey = `wf-${randomUUID()}/mail`;
    expect(await send({ authorization: 'NO_SUCH_TOKEN' }, deliveryKey)).toMatchObject({
      type: 'ChannelNotConfigured',
      nonRetryable: true,
      message: 'attachment "statement.pdf" names secret "NO_SUCH_TOKEN", which is not configured (HTTP_SECRET_NO_SUCH_TOKEN)',
    });
    expect(files.requests).toHaveLength(0);
    expect(await h.db.selectFrom('deliveries').selectAll().where('delivery_key', '=', deliveryKey).executeTakeFirst()).toBeUndefined();
    expect(smtp.messages).toHaveLength(0);
  });

  it('does not carry the secret along a redirect to another origin', async () => {
    const elsewhere = await startHttpSink();
    try {
      elsewhere.respond = () => ({ status: 200, body: statement, headers: { 'content-type': 'application/pdf' } });
      files.respond = () => ({ status: 302, headers: { location: `${elsewhere.url}/mirror/statement.pdf` } });
      const activities = createActivities({ config: h.config, db: h.db });
      await activities.sendEmail({
        deliveryKey: `wf-${randomUUID()}/mail`,
        to: 'ada@example.test',
        subject: 's',
        text: 't',
        attachments: [{ filename: 'statement.pdf', url: `${files.url}/private/statement.pdf`, secretHeaders: { authorization: 'FILES_TOKEN' } }],
      });
      expect(files.requests[0]!.headers.authorization).toBe(FILES_TOKEN);
      expect(elsewhere.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/mirror/statement.pdf', undefined]]);
      expect(attachmentsOf(smtp.messages[0]!.raw).get('statement.pdf')?.bytes).toEqual(statement);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('email attachments in a definition', () => {
  it('needs either url or content, and encoding only with content', async () => {
    const res = await h.api('POST', '/api/workflows/validate', {
      key: 'bad-attachments',
      name: 'Bad attachments',
      steps: [
        {
          id: 'mail',
          type: 'email',
          to: 'a@example.test',
          subject: 's',
          text: 't',
          attachments: [
            { filename: 'both.txt', url: 'https://files.example/a', content: 'x' },
            { filename: 'neither.txt' },
            { filename: 'fetched.png', url: 'https://files.example/b', encoding: 'base64' },
          ],
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      '$.steps[0].attachments[0].url',
      '$.steps[0].attachments[1].url',
      '$.steps[0].attachments[2].encoding',
    ]);
  });
});

describe('the sendEmail activity', () => {
  const key = () => `wf-${randomUUID()}/mail`;
  const message = { to: 'ada@example.test', subject: 's', text: 't' };

  it('refuses inline content past the per-file or total cap before anything is claimed or sent', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const big = await activities
      .sendEmail({ deliveryKey: key(), ...message, attachments: [{ filename: 'notes.txt', content: 'x'.repeat(MAX_FILE + 1) }] })
      .catch((e: unknown) => e);
    expect(big).toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: expect.stringContaining('"notes.txt" is larger than') });

    const deliveryKey = key();
    const part = (name: string) => ({ filename: name, content: Buffer.alloc(2500, 1).toString('base64'), encoding: 'base64' });
    const total = await activities
      .sendEmail({ deliveryKey, ...message, attachments: [part('a.bin'), part('b.bin'), part('c.bin')] })
      .catch((e: unknown) => e);
    expect(total).toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: `attachment "c.bin" takes the attachments past ${MAX_TOTAL} bytes in total (EMAIL_MAX_TOTAL_ATTACHMENT_BYTES)`,
    });
    expect(smtp.messages).toHaveLength(0);
    expect(await h.db.selectFrom('deliveries').selectAll().where('delivery_key', '=', deliveryKey).executeTakeFirst()).toBeUndefined();
  });

  it('refuses malformed attachments: bad base64, both url and content, a file name with a line break', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const send = (attachment: Record<string, unknown>) =>
      activities.sendEmail({ deliveryKey: key(), ...message, attachments: [attachment] }).catch((e: unknown) => e);
    expect(await send({ filename: 'a.png', content: 'not*base64', encoding: 'base64' })).toMatchObject({
      type: 'ProviderRejected',
      message: 'attachment "a.png" is not valid base64',
    });
    expect(await send({ filename: 'a.txt', content: 'x', url: `${files.url}/files/a` })).toMatchObject({
      type: 'ProviderRejected',
      message: expect.stringMatching(/attachments\.0 .*either url or content/),
    });
    expect(await send({ filename: 'a\r\nBcc: victim@example.test', content: 'x' })).toMatchObject({
      type: 'ProviderRejected',
      message: expect.stringMatching(/attachments\.0\.filename/),
    });
    expect(smtp.messages).toHaveLength(0);
  });

  it('classifies a missing file as permanent and a failing server as retryable, naming the file', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const send = (name: string) =>
      activities.sendEmail({ deliveryKey: key(), ...message, attachments: [{ filename: name, url: `${files.url}/files/${name}` }] });
    await expect(send('missing.pdf')).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: expect.stringMatching(/^attachment "missing\.pdf": 127\.0\.0\.1:\d+ answered HTTP 404$/),
    });
    files.respond = () => ({ status: 503 });
    await expect(send('later.pdf')).rejects.toMatchObject({
      type: 'ProviderUnavailable',
      nonRetryable: false,
      message: expect.stringContaining('attachment "later.pdf"'),
    });
    expect(smtp.messages).toHaveLength(0);
  });

  it('does not fetch again when the ledger shows the message sent', async () => {
    served.set('invoice.pdf', { bytes: Buffer.from('%PDF-1.4 fake'), type: 'application/pdf' });
    const activities = createActivities({ config: h.config, db: h.db });
    const deliveryKey = key();
    const input = { deliveryKey, ...message, attachments: [{ filename: 'invoice.pdf', url: `${files.url}/files/invoice.pdf` }] };
    const first = await activities.sendEmail(input);
    const second = await activities.sendEmail(input);
    expect(second).toEqual({ ...first, deduplicated: true });
    expect(files.requests).toHaveLength(1);
    expect(smtp.messages).toHaveLength(1);
    expect(attachmentsOf(smtp.messages[0]!.raw).get('invoice.pdf')).toEqual({ type: 'application/pdf', bytes: Buffer.from('%PDF-1.4 fake') });
  });

  it('refuses to fetch from a loopback address unless HTTP_ALLOWED_HOSTS allows it, before any byte is sent', async () => {
    served.set('internal.txt', { bytes: Buffer.from('internal'), type: 'text/plain' });
    const strict = createActivities({ config: loadConfig({ DATABASE_URL: h.databaseUrl, ...smtpEnv() }), db: h.db });
    const port = new URL(files.url).port;
    for (const url of [`${files.url}/files/internal.txt`, `http://localhost:${port}/files/internal.txt`]) {
      await expect(
        strict.sendEmail({ deliveryKey: key(), ...message, attachments: [{ filename: 'internal.txt', url }] }),
      ).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: expect.stringMatching(/^attachment "internal\.txt": .*not a public address/) });
    }
    expect(files.requests).toHaveLength(0);
    expect(smtp.messages).toHaveLength(0);
  });
});
