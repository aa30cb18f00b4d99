/**
 * Connections on the dev server with loopback peers: two Teams webhooks, two
 * SMTP servers and two Slack workspaces as six connections, and one run that
 * sends to each, each peer getting exactly its message; a Twilio account and a
 * PagerDuty service, sent to and (Twilio) checked; an `http` step
 * refused with 401 that succeeds once its connection's token is updated
 * through the API, with no restart; the ledger naming the version of the
 * connection each send went through, a rotated one's included; canary
 * secrets that reach their peers and nothing else (history, mirror, ledger,
 * audit log, API answers, the connections table's ciphertext); the
 * save-time check of a step's connection; a delete refused while a
 * definition names the connection;
 * a rotation of the master key that re-wraps every data key while runs go on.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { connectionsWithoutKey } from '../../src/connections/resolver';
import { rewrapConnections } from '../../src/connections/rewrap';
import { type HttpSink, type RecordedRequest, type SmtpSink, slackApiReply, startHttpSink, startSmtpSink, twilioMessagesReply } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';
import { memoryLogger } from '../support/logs';
import { runTimeout } from '../support/timeouts';

let h: Harness;
/** The gateway's log, at its most detailed. */
const gatewayLog = memoryLogger('trace');
const teams: HttpSink[] = [];
const slack: HttpSink[] = [];
const smtp: SmtpSink[] = [];
let api: HttpSink;

/** Secrets that must reach their peer and appear nowhere else. */
const canary = (what: string) => `CANARY${what}${randomBytes(6).toString('hex')}`;
const CANARIES = {
  teamsA: canary('teamsa'),
  teamsB: canary('teamsb'),
  smtpA: canary('smtpa'),
  smtpB: canary('smtpb'),
  slackA: `xoxb-${canary('slacka')}`,
  slackB: `xoxb-${canary('slackb')}`,
  oldToken: canary('oldtoken'),
  newToken: canary('newtoken'),
  oldWebhook: canary('oldwebhook'),
  newWebhook: canary('newwebhook'),
};
const ALL_CANARIES = Object.values(CANARIES);

function expectNoCanary(text: string, where: string) {
  for (const secret of ALL_CANARIES) expect(text.includes(secret), `${where} holds a secret`).toBe(false);
  // Also no part of one: the random tail alone.
  for (const secret of ALL_CANARIES) expect(text.includes(secret.slice(-12)), `${where} holds part of a secret`).toBe(false);
}

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    teams.push(await startHttpSink());
    smtp.push(await startSmtpSink());
    const workspace = await startHttpSink();
    workspace.respond = slackApiReply;
    slack.push(workspace);
  }
  api = await startHttpSink();
  h = await createHarness({
    env: { CONNECTION_KEYS: `conn-test:${randomBytes(32).toString('base64')}`, HTTP_ALLOWED_HOSTS: '127.0.0.1' },
    logger: gatewayLog.logger,
  });
  const connections = [
    { name: 'ops-teams', type: 'teams', secrets: { webhookUrl: `${teams[0]!.url}/workflows/${CANARIES.teamsA}` } },
    { name: 'sales-teams', type: 'teams', secrets: { webhookUrl: `${teams[1]!.url}/workflows/${CANARIES.teamsB}` } },
    { name: 'mail-a', type: 'smtp', settings: { host: '127.0.0.1', port: smtp[0]!.port, user: 'alerts', from: 'alerts@a.example.test' }, secrets: { pass: CANARIES.smtpA } },
    { name: 'mail-b', type: 'smtp', settings: { host: '127.0.0.1', port: smtp[1]!.port, user: 'news', from: 'news@b.example.test' }, secrets: { pass: CANARIES.smtpB } },
    { name: 'slack-a', type: 'slack', settings: { apiUrl: `${slack[0]!.url}/api/` }, secrets: { botToken: CANARIES.slackA } },
    { name: 'slack-b', type: 'slack', settings: { apiUrl: `${slack[1]!.url}/api/` }, secrets: { botToken: CANARIES.slackB } },
    { name: 'crm-api', type: 'http', settings: { auth: 'bearer', baseUrl: `${api.url}/v2/` }, secrets: { token: CANARIES.oldToken } },
  ];
  for (const connection of connections) {
    const created = await h.api('POST', '/api/connections', connection);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expectNoCanary(JSON.stringify(created.body), `the answer to POST ${connection.name}`);
  }
});

afterAll(async () => {
  await h?.close();
  await Promise.all([...teams, ...slack, api].map((s) => s?.close()));
  await Promise.all(smtp.map((s) => s.close()));
});

const uniqueKey = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

describe('one run sending through six connections', () => {
  let workflowId: string;
  let executionId: string;

  it('reaches each peer with exactly its message', async () => {
    const definition = {
      key: uniqueKey('fan-out'),
      name: 'Fan out',
      steps: [
        { id: 'ops', type: 'teams', connection: 'ops-teams', text: 'to ops {{ input.n }}' },
        { id: 'sales', type: 'teams', connection: 'sales-teams', text: 'to sales {{ input.n }}' },
        { id: 'alert', type: 'email', connection: 'mail-a', to: 'oncall@a.example.test', subject: 'alert {{ input.n }}', text: 'alert' },
        { id: 'news', type: 'email', connection: 'mail-b', to: 'reader@b.example.test', subject: 'news {{ input.n }}', text: 'news' },
        { id: 'slack-a', type: 'slack', connection: 'slack-a', channel: 'C0OPS', text: 'slack a {{ input.n }}' },
        { id: 'slack-b', type: 'slack', connection: 'slack-b', channel: 'C0SALES', text: 'slack b {{ input.n }}' },
      ],
    };
    const saved = await h.api('POST', '/api/workflows', definition);
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: { n: 7 } });
    expect(started.status).toBe(202);
    ({ workflowId, executionId } = started.body);
    await h.client.workflow.getHandle(workflowId).result();

    const teamsTexts = teams.map((sink) => sink.requests.map((r) => (r.json as { text?: string }).text));
    expect(teamsTexts).toEqual([['to ops 7'], ['to sales 7']]);
    expect(teams[0]!.requests[0]!.path).toBe(`/workflows/${CANARIES.teamsA}`);
    expect(teams[1]!.requests[0]!.path).toBe(`/workflows/${CANARIES.teamsB}`);
    expect(smtp.map((sink) => sink.messages.map((m) => [m.from, m.to]))).toEqual([
      [['alerts@a.example.test', ['oncall@a.example.test']]],
      [['news@b.example.test', ['reader@b.example.test']]],
    ]);
    const posted = (req: RecordedRequest) => [req.headers.authorization, new URLSearchParams(req.body).get('channel'), new URLSearchParams(req.body).get('text')];
    const ledger = await h.db
      .selectFrom('deliveries')
      .select(['step_path', 'channel', 'connection', 'connection_version'])
      .where('workflow_id', '=', workflowId)
      .orderBy('step_path')
      .execute();
    expect(ledger.map((d) => [d.step_path, d.channel, d.connection, d.connection_version])).toEqual([
      ['alert', 'email', 'mail-a', 1],
      ['news', 'email', 'mail-b', 1],
      ['ops', 'teams', 'ops-teams', 1],
      ['sales', 'teams', 'sales-teams', 1],
      ['slack-a', 'slack', 'slack-a', 1],
      ['slack-b', 'slack', 'slack-b', 1],
    ]);
    expect(slack.map((sink) => sink.requests.map(posted))).toEqual([
      [[`Bearer ${CANARIES.slackA}`, 'C0OPS', 'slack a 7']],
      [[`Bearer ${CANARIES.slackB}`, 'C0SALES', 'slack b 7']],
    ]);
  });

  it('keeps every secret out of the history, the mirror, the ledger, the API, the metrics and the log', async () => {
    const history = await readableHistory(h.client.workflow.getHandle(workflowId));
    // The activity's input names the connection (the payload's JSON is quoted within the history's).
    expect(history).toMatch(/connection\\?":\\?"ops-teams/);
    expectNoCanary(history, 'the history');
    for (const table of ['workflow_executions', 'workflow_execution_logs', 'deliveries', 'audit_log', 'dev_outbox'] as const) {
      const rows = await h.db.selectFrom(table).selectAll().execute();
      expectNoCanary(JSON.stringify(rows), `table ${table}`);
    }
    const sealed = await h.db.selectFrom('connections').selectAll().execute();
    expectNoCanary(sealed.map((r) => `${r.secret_ciphertext.toString('latin1')} ${r.data_key_wrapped.toString('latin1')} ${JSON.stringify(r.settings)}`).join(), 'the connections table');
    for (const path of ['/api/connections', '/api/connections/ops-teams', `/api/executions/${executionId}`, `/api/executions/${executionId}/logs`, `/api/executions/${executionId}/history`, '/api/audit']) {
      const res = await h.api('GET', path);
      expect(res.status, path).toBe(200);
      expectNoCanary(JSON.stringify(res.body), `GET ${path}`);
    }
    const metrics = await fetch(`${h.baseUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expectNoCanary(await metrics.text(), 'the gateway metrics');
    // The gateway logged each request that carried a secret (the connections' creation among them), and no secret.
    expect(gatewayLog.lines.some((line) => JSON.stringify(line).includes('/api/connections'))).toBe(true);
    expectNoCanary(JSON.stringify(gatewayLog.lines), "the gateway's log");
    const listed = await h.api('GET', '/api/connections/mail-a');
    expect(listed.body.secrets).toEqual({ pass: { set: true, fingerprint: expect.stringMatching(/^hmac-sha256:[0-9a-f]{12}$/) } });
    expect(listed.body.settings).toEqual({ host: '127.0.0.1', port: smtp[0]!.port, secure: false, user: 'alerts', from: 'alerts@a.example.test' });
  });
});

describe('a rotated token', () => {
  it('lets a step refused with 401 succeed on its next attempt, with no restart', async () => {
    api.respond = (req) => (req.headers.authorization === `Bearer ${CANARIES.newToken}` ? { status: 200, body: { created: true } } : { status: 401, body: { error: 'invalid token' } });
    const saved = await h.api('POST', '/api/workflows', {
      key: uniqueKey('crm-sync'),
      name: 'CRM sync',
      steps: [
        {
          id: 'lead',
          type: 'http',
          connection: 'crm-api',
          method: 'POST',
          url: `${api.url}/v2/leads`,
          body: { email: '{{ input.email }}' },
          retry: { maximumAttempts: 50, initialInterval: '200ms', backoffCoefficient: 1 },
        },
      ],
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: { email: 'lead@example.test' } });
    expect(started.status).toBe(202);
    await eventually(async () => (api.requests.filter((r) => r.headers.authorization === `Bearer ${CANARIES.oldToken}`).length >= 2 ? true : undefined), 30_000, 'two refused attempts');

    const updated = await h.api('PUT', '/api/connections/crm-api', { settings: { auth: 'bearer', baseUrl: `${api.url}/v2/` }, secrets: { token: CANARIES.newToken } });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.version).toBe(2);
    expectNoCanary(JSON.stringify(updated.body), 'the answer to PUT');

    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    expect(result).toBeDefined();
    expect(api.requests.at(-1)!.headers.authorization).toBe(`Bearer ${CANARIES.newToken}`);
    const audit = await h.api('GET', '/api/audit?target=connection:crm-api');
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['connection.update', 'connection.create']);
    expect(audit.body.items[0].outcome.secrets.token).toEqual({ set: true, fingerprint: expect.stringMatching(/^hmac-sha256:/) });
    expectNoCanary(JSON.stringify(await readableHistory(h.client.workflow.getHandle(started.body.workflowId))), 'the history');
  }, runTimeout({ steps: 20, extra: 30_000 }));

  it('records in the ledger the version each send of a rotated connection went through', async () => {
    // A webhook of its own, so the other tests' Teams connections and requests are not disturbed.
    const hook = await startHttpSink();
    try {
      hook.respond = (req) => (req.path === `/workflows/${CANARIES.newWebhook}` ? { status: 200, body: {} } : { status: 401, body: { error: 'revoked' } });
      const created = await h.api('POST', '/api/connections', { name: 'rotated-teams', type: 'teams', secrets: { webhookUrl: `${hook.url}/workflows/${CANARIES.oldWebhook}` } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const saved = await h.api('POST', '/api/workflows', {
        key: uniqueKey('rotated-teams'),
        name: 'Rotated Teams',
        steps: [
          {
            id: 'note',
            type: 'teams',
            connection: 'rotated-teams',
            text: 'note {{ input.n }}',
            retry: { maximumAttempts: 50, initialInterval: '200ms', backoffCoefficient: 1 },
          },
        ],
      });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      const ledgerRow = (workflowId: string) =>
        h.db.selectFrom('deliveries').select(['status', 'connection', 'connection_version']).where('workflow_id', '=', workflowId).executeTakeFirst();

      // Version 1's webhook is refused: the step retries, each attempt opening the connection again.
      const first = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: { n: 1 } });
      expect(first.status).toBe(202);
      await eventually(async () => (hook.requests.filter((r) => r.path.endsWith(CANARIES.oldWebhook)).length >= 2 ? true : undefined), 30_000, 'two refused attempts');
      // The row was claimed before the first request went out; its status turns between attempts.
      expect(await ledgerRow(first.body.workflowId)).toMatchObject({ connection: 'rotated-teams', connection_version: 1 });

      const updated = await h.api('PUT', '/api/connections/rotated-teams', { settings: {}, secrets: { webhookUrl: `${hook.url}/workflows/${CANARIES.newWebhook}` } });
      expect(updated.status, JSON.stringify(updated.body)).toBe(200);
      expect(updated.body.version).toBe(2);

      // The retry that gets through sent with version 2, and the row says so.
      await h.client.workflow.getHandle(first.body.workflowId).result();
      expect(await ledgerRow(first.body.workflowId)).toEqual({ status: 'SENT', connection: 'rotated-teams', connection_version: 2 });

      // So does the next run's first send.
      const second = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: { n: 2 } });
      expect(second.status).toBe(202);
      await h.client.workflow.getHandle(second.body.workflowId).result();
      expect(await ledgerRow(second.body.workflowId)).toEqual({ status: 'SENT', connection: 'rotated-teams', connection_version: 2 });
      expect(hook.requests.filter((r) => r.path.endsWith(CANARIES.newWebhook)).map((r) => (r.json as { text?: string }).text)).toEqual(['note 1', 'note 2']);

      const history = await readableHistory(h.client.workflow.getHandle(first.body.workflowId));
      expectNoCanary(history, 'the history');
      expectNoCanary(JSON.stringify(await h.db.selectFrom('deliveries').selectAll().execute()), 'table deliveries');
    } finally {
      await hook.close();
    }
  }, runTimeout({ steps: 20, extra: 30_000 }));

  it('refuses a URL outside the connection base URL, its credentials unsent', async () => {
    const before = api.requests.length;
    const saved = await h.api('POST', '/api/workflows', {
      key: uniqueKey('crm-elsewhere'),
      name: 'CRM elsewhere',
      steps: [{ id: 'other', type: 'http', connection: 'crm-api', url: `${api.url}/admin/export` }],
    });
    const started = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: {} });
    await expect(h.client.workflow.getHandle(started.body.workflowId).result()).rejects.toThrow();
    expect(api.requests.length).toBe(before);
  });
});

describe('definitions naming connections', () => {
  it('are refused when the connection is missing or of another type, naming the field', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: uniqueKey('bad-connections'),
      name: 'Bad connections',
      steps: [
        { id: 'a', type: 'teams', connection: 'no-such-teams', text: 'x' },
        {
          id: 'b',
          type: 'parallel',
          branches: [[{ id: 'c', type: 'teams', connection: 'mail-a', text: 'x' }], [{ id: 'd', type: 'set', values: { x: 1 } }]],
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_definition');
    expect(res.body.errors).toEqual([
      { path: '$.steps[0].connection', message: 'no connection is named "no-such-teams"' },
      { path: '$.steps[1].branches[0][0].connection', message: 'connection "mail-a" is of type smtp; a teams step takes a teams connection' },
    ]);
  });

  it('keep a connection they name from being deleted, unless forced', async () => {
    expect((await h.api('POST', '/api/connections', { name: 'doomed-teams', type: 'teams', secrets: { webhookUrl: `${teams[0]!.url}/doomed` } })).status).toBe(201);
    const key = uniqueKey('uses-doomed');
    expect((await h.api('POST', '/api/workflows', { key, name: 'Uses doomed', steps: [{ id: 'n', type: 'teams', connection: 'doomed-teams', text: 'x' }] })).status).toBe(201);
    const read = await h.api('GET', '/api/connections/doomed-teams');
    expect(read.body.usedBy).toEqual([{ definition: key, version: 1, step: '$.steps[0].connection' }]);
    const refused = await h.api('DELETE', '/api/connections/doomed-teams');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('connection_in_use');
    expect(refused.body.detail).toContain(`${key} v1`);
    expect((await h.api('DELETE', '/api/connections/doomed-teams?force=true')).status).toBe(204);
    expect((await h.api('GET', '/api/connections/doomed-teams')).status).toBe(404);
  });
});

describe('sms and pagerduty steps through connections', () => {
  let twilioPeer: HttpSink;
  let pagerDutyPeer: HttpSink;
  const authToken = canary('twilio');
  const routingKey = canary('routing');
  const accountSid = `AC${'0'.repeat(31)}7`;

  beforeAll(async () => {
    twilioPeer = await startHttpSink();
    twilioPeer.respond = (req) =>
      req.method === 'GET' && req.path === `/2010-04-01/Accounts/${accountSid}.json`
        ? { status: 200, body: { sid: accountSid, status: 'active', friendly_name: 'test' } }
        : twilioMessagesReply(req);
    pagerDutyPeer = await startHttpSink();
    pagerDutyPeer.respond = (req) => ({ status: 202, body: { status: 'success', message: 'Event processed', dedup_key: (req.json as { dedup_key?: string }).dedup_key } });
    const created = await Promise.all([
      h.api('POST', '/api/connections', { name: 'sms-eu', type: 'twilio', settings: { accountSid, phoneNumber: '+14155550100', apiUrl: twilioPeer.url }, secrets: { authToken } }),
      h.api('POST', '/api/connections', { name: 'pager-payments', type: 'pagerduty', settings: { eventsUrl: `${pagerDutyPeer.url}/v2/enqueue` }, secrets: { routingKey } }),
    ]);
    for (const res of created) expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  afterAll(async () => {
    await Promise.all([twilioPeer?.close(), pagerDutyPeer?.close()]);
  });

  it('send with the connection each names, and keep its secret out of the run', async () => {
    const saved = await h.api('POST', '/api/workflows', {
      key: uniqueKey('sms-and-page'),
      name: 'SMS and page',
      steps: [
        { id: 'text', type: 'sms', connection: 'sms-eu', to: '+4915112345678', body: 'payment failed' },
        { id: 'page', type: 'pagerduty', connection: 'pager-payments', action: 'trigger', summary: 'payment failed', source: 'checkout', severity: 'error' },
      ],
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: {} });
    await h.client.workflow.getHandle(started.body.workflowId).result();

    const sent = twilioPeer.requests.filter((r) => r.method === 'POST');
    expect(sent.map((r) => [r.path, new URLSearchParams(r.body).get('From'), new URLSearchParams(r.body).get('Body')])).toEqual([
      [`/2010-04-01/Accounts/${accountSid}/Messages.json`, '+14155550100', 'payment failed'],
    ]);
    expect(sent[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
    expect(pagerDutyPeer.requests.map((r) => (r.json as { routing_key?: string }).routing_key)).toEqual([routingKey]);
    const history = await readableHistory(h.client.workflow.getHandle(started.body.workflowId));
    for (const secret of [authToken, routingKey]) expect(history.includes(secret)).toBe(false);
  });

  it('checks a Twilio connection by reading the account', async () => {
    const checked = await h.api('POST', '/api/connections/sms-eu/test');
    expect(checked.body).toMatchObject({ checked: true, ok: true, detail: `account ${accountSid} is active` });
    expect(twilioPeer.requests.at(-1)).toMatchObject({ method: 'GET', path: `/2010-04-01/Accounts/${accountSid}.json` });
  });
});

describe('a worker without the master key', () => {
  const otherKeys = { keys: { other: randomBytes(32).toString('base64') }, currentKeyId: 'other' };

  it('names each connection it cannot open at start', async () => {
    const problems = await connectionsWithoutKey(h.db, otherKeys);
    expect(problems).toContain(
      'connection "ops-teams" is sealed with master key "conn-test", which CONNECTION_KEYS does not hold: steps naming it fail until the key is added on every worker',
    );
    expect(await connectionsWithoutKey(h.db, h.config.connectionKeys)).toEqual([]);
  });

  it('fails a send naming the connection and the key, never sending without the credential', async () => {
    const before = teams[0]!.requests.length;
    const activities = createActivities({ config: { ...h.config, connectionKeys: otherKeys }, db: h.db });
    const refused = await activities.sendTeams({ deliveryKey: `wf-${randomUUID()}/n`, text: 'x', connection: 'ops-teams' }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ type: 'ChannelNotConfigured', nonRetryable: true });
    expect((refused as Error).message).toMatch(/connection "ops-teams" is sealed with master key "conn-test", which CONNECTION_KEYS does not hold/);
    expect(teams[0]!.requests.length).toBe(before);
  });
});

describe('the connection API', () => {
  it('names each bad field, refuses a taken name, and keeps secrets not sent', async () => {
    const bad = await h.api('POST', '/api/connections', { name: 'Bad Name', type: 'smtp', settings: { host: 'h' }, secrets: { pass: 'p' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['$.body.name']);
    const fields = await h.api('POST', '/api/connections', { name: 'half-smtp', type: 'smtp', settings: { host: 'h' }, secrets: { pass: 'p' } });
    expect(fields.status).toBe(400);
    expect(fields.body.errors).toEqual([{ path: '$.body.settings.from', message: expect.any(String) }]);
    const together = await h.api('POST', '/api/connections', { name: 'half-smtp', type: 'smtp', settings: { host: 'h', from: 'a@b.c' }, secrets: { pass: 'p' } });
    expect(together.body.errors).toEqual([{ path: '$.body.settings.user', message: 'is required with pass' }]);
    const taken = await h.api('POST', '/api/connections', { name: 'ops-teams', type: 'teams', secrets: { webhookUrl: 'https://example.test/x' } });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('connection_name_taken');

    const before = (await h.api('GET', '/api/connections/mail-b')).body;
    const renamed = await h.api('PUT', '/api/connections/mail-b', { settings: { ...before.settings, from: 'Newsletter <news@b.example.test>' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.secrets).toEqual(before.secrets);
    expect(renamed.body.version).toBe(before.version + 1);
  });

  it('checks an SMTP connection by logging in, and says a Teams webhook cannot be checked', async () => {
    const mail = await h.api('POST', '/api/connections/mail-a/test');
    expect(mail.body).toMatchObject({ name: 'mail-a', checked: true, ok: true });
    const hook = await h.api('POST', '/api/connections/ops-teams/test');
    expect(hook.body).toMatchObject({ checked: false, ok: null, detail: expect.stringMatching(/cannot be checked without posting/) });
    expect(teams[0]!.requests.filter((r) => r.path.endsWith('/test')).length).toBe(0);
  });
});

// Last: after it, only the new master key opens the connections.
describe('rotating the master key', () => {
  it('re-wraps every data key in batches, after which the new key alone opens them', async () => {
    const current = h.config.connectionKeys!;
    const next = { keys: { ...current.keys, 'conn-next': randomBytes(32).toString('base64') }, currentKeyId: 'conn-next' };
    const total = (await h.db.selectFrom('connections').select('name').execute()).length;
    const fingerprints = (await h.api('GET', '/api/connections/mail-a')).body.secrets;
    const batches: number[] = [];
    const done = await rewrapConnections(h.db, next, { batchSize: 3, onProgress: (p) => batches.push(p.rewrapped) });
    expect(done).toEqual({ rewrapped: total, unreadable: [] });
    expect(batches.at(-1)).toBe(total);
    expect(batches.length).toBe(Math.ceil(total / 3));
    expect(await connectionsWithoutKey(h.db, { keys: { 'conn-next': next.keys['conn-next'] }, currentKeyId: 'conn-next' })).toEqual([]);
    // The secrets themselves did not change: same version, same fingerprints.
    expect((await h.api('GET', '/api/connections/mail-a')).body.secrets).toEqual(fingerprints);

    const onlyNext = { keys: { 'conn-next': next.keys['conn-next'] }, currentKeyId: 'conn-next' };
    const activities = createActivities({ config: { ...h.config, connectionKeys: onlyNext }, db: h.db });
    const before = teams[1]!.requests.length;
    await activities.sendTeams({ deliveryKey: `wf-${randomUUID()}/n`, text: 'after the rotation', connection: 'sales-teams' });
    expect(teams[1]!.requests.slice(before).map((r) => (r.json as { text?: string }).text)).toEqual(['after the rotation']);
    expect(teams[1]!.requests.at(-1)!.path).toBe(`/workflows/${CANARIES.teamsB}`);
  });
});
