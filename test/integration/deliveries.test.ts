/**
 * Deliveries through real protocols to loopback peers: SMTP, Slack's Web API,
 * Twilio's Messages API and a Teams Workflows webhook. The delivery ledger
 * keeps retries, duplicate calls and resets from sending twice, no secret
 * reaches Temporal's history or the mirror, and the API answers what a run sent.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { runDeliveriesQuery } from '../../db/deliveries';
import {
  type HttpSink,
  type RecordedRequest,
  type SmtpSink,
  slackApiReply,
  startHttpSink,
  startSmtpSink,
  twilioMessagesReply,
} from '../../scripts/lib/sinks';
import { isOutboxResult, isPacedSend } from '../../src/shared/run';
import { createHarness, eventually, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';

const SECRETS = {
  SMTP_PASS: 'smtp-pass-7c1e5f',
  SLACK_BOT_TOKEN: 'xoxb-secret-2d9a41',
  TWILIO_AUTH_TOKEN: 'twilio-token-88f0aa',
  TEAMS_SIG: 'sig-teams-5b3c9e',
};

let h: Harness;
let smtp: SmtpSink;
let slack: HttpSink;
let twilio: HttpSink;
let teams: HttpSink;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  [smtp, slack, twilio, teams] = await Promise.all([startSmtpSink(), startHttpSink(), startHttpSink(), startHttpSink()]);
  h = await createHarness({
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_USER: 'mailer',
      SMTP_PASS: SECRETS.SMTP_PASS,
      SMTP_FROM: 'automation@example.test',
      SLACK_BOT_TOKEN: SECRETS.SLACK_BOT_TOKEN,
      SLACK_API_URL: `${slack.url}/api/`,
      TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000001',
      TWILIO_AUTH_TOKEN: SECRETS.TWILIO_AUTH_TOKEN,
      TWILIO_PHONE_NUMBER: '+14155550100',
      TWILIO_API_URL: twilio.url,
      TEAMS_WEBHOOK_URL: `${teams.url}/workflows/abc/triggers/manual/paths/invoke?sig=${SECRETS.TEAMS_SIG}`,
    },
  });
  activities = createActivities({ config: h.config, db: h.db });
});

beforeEach(() => {
  slack.respond = slackApiReply;
  twilio.respond = twilioMessagesReply;
  teams.respond = () => ({ status: 202 });
  for (const sink of [slack, twilio, teams]) sink.requests.length = 0;
  smtp.messages.length = 0;
});

afterAll(async () => {
  await h?.close();
  await Promise.all([smtp?.close(), slack?.close(), twilio?.close(), teams?.close()]);
});

const key = () => `wf-${randomUUID()}/step`;

async function ledgerRow(deliveryKey: string) {
  return h.db.selectFrom('deliveries').selectAll().where('delivery_key', '=', deliveryKey).executeTakeFirst();
}

describe('channels', () => {
  it('sends an SMS through Twilio with the account credentials and records the message SID', async () => {
    const deliveryKey = key();
    const result = await activities.sendSms({ deliveryKey, to: '+14155550123', body: 'Your code is 4242' });
    if (isPacedSend(result)) throw new Error('SMS is not paced in this test');
    if (isOutboxResult(result)) throw new Error('SMS is configured in this test');
    expect(result.sid).toMatch(/^SM/);
    expect(twilio.requests).toHaveLength(1);
    const req = twilio.requests[0]!;
    expect(req.path).toBe('/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toMatchObject({
      To: '+14155550123',
      From: '+14155550100',
      Body: 'Your code is 4242',
    });
    const basic = Buffer.from(`AC00000000000000000000000000000001:${SECRETS.TWILIO_AUTH_TOKEN}`).toString('base64');
    expect(req.headers.authorization).toBe(`Basic ${basic}`);
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'SENT', provider_message_id: result.sid, channel: 'sms' });
  });

  it('refuses a malformed phone number before calling Twilio, and a number Twilio rejects, without retry', async () => {
    const local = await activities.sendSms({ deliveryKey: key(), to: '0612345678', body: 'x' }).catch((e: unknown) => e);
    expect(local).toBeInstanceOf(ApplicationFailure);
    expect(local).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true, message: expect.stringMatching(/E\.164/) });
    expect(twilio.requests).toHaveLength(0);

    const remote = await activities.sendSms({ deliveryKey: key(), to: '+15550001234', body: 'x' }).catch((e: unknown) => e);
    expect(remote).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true, message: expect.stringMatching(/21211/) });
  });

  it('posts an Adaptive Card with a text fallback to the Teams webhook', async () => {
    await activities.sendTeams({ deliveryKey: key(), title: 'Deploy finished', text: 'Version 1.4 is live' });
    expect(teams.requests).toHaveLength(1);
    const body = teams.requests[0]!.json as any;
    expect(body.type).toBe('message');
    expect(body.text).toContain('Version 1.4 is live');
    expect(body.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(body.attachments[0].content.body.map((b: { text: string }) => b.text)).toEqual(['Deploy finished', 'Version 1.4 is live']);
  });

  it('classifies Teams answers: 4xx fails for good, 5xx and 429 are retried', async () => {
    teams.respond = () => ({ status: 400, body: 'bad card' });
    await expect(activities.sendTeams({ deliveryKey: key(), text: 'x' })).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    teams.respond = () => ({ status: 503 });
    await expect(activities.sendTeams({ deliveryKey: key(), text: 'x' })).rejects.toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    teams.respond = () => ({ status: 429, headers: { 'retry-after': '7' } });
    await expect(activities.sendTeams({ deliveryKey: key(), text: 'x' })).rejects.toMatchObject({
      type: 'ProviderRateLimited',
      nextRetryDelay: 7000,
    });
  });
});

describe('the delivery ledger', () => {
  it.each([
    ['email', () => smtp.messages.length, (k: string) => activities.sendEmail({ deliveryKey: k, to: 'a@example.test', subject: 's', text: 't' })],
    ['slack', () => slack.requests.length, (k: string) => activities.sendSlack({ deliveryKey: k, channel: 'C1', text: 't' })],
    ['sms', () => twilio.requests.length, (k: string) => activities.sendSms({ deliveryKey: k, to: '+14155550123', body: 't' })],
    ['teams', () => teams.requests.length, (k: string) => activities.sendTeams({ deliveryKey: k, text: 't' })],
  ])('%s: a second call with the same delivery key does not deliver again', async (_channel, delivered, send) => {
    const deliveryKey = key();
    const first = await send(deliveryKey);
    const second = await send(deliveryKey);
    expect(delivered()).toBe(1);
    expect(second).toMatchObject({ ...first, deduplicated: true });
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'SENT', attempts: 1 });
  });

  it('retries a delivery that definitely failed', async () => {
    const deliveryKey = key();
    teams.respond = () => ({ status: 503 });
    await expect(activities.sendTeams({ deliveryKey, text: 'x' })).rejects.toMatchObject({ type: 'ProviderUnavailable' });
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'FAILED' });
    teams.respond = () => ({ status: 202 });
    await activities.sendTeams({ deliveryKey, text: 'x' });
    expect(teams.requests).toHaveLength(2);
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'SENT', attempts: 2 });
  });

  it('sends an email again after a lost outcome under the same Message-ID, so mail stores keep one copy', async () => {
    const deliveryKey = key();
    const first = await activities.sendEmail({ deliveryKey, to: 'a@example.test', subject: 's', text: 't' });
    // The worker died after the server took the message and before the ledger said so.
    await h.db.updateTable('deliveries').set({ status: 'UNKNOWN' }).where('delivery_key', '=', deliveryKey).execute();
    const second = await activities.sendEmail({ deliveryKey, to: 'a@example.test', subject: 's', text: 't' });
    expect(smtp.messages).toHaveLength(2);
    const ids = smtp.messages.map((m) => /^Message-ID: (.*)$/im.exec(m.raw)?.[1]?.trim());
    expect(ids[0]).toMatch(/^<[0-9a-f]{32}\.wfa@example\.test>$/);
    expect(ids[1]).toBe(ids[0]);
    expect([first, second].map((r) => (r as { messageId: string }).messageId)).toEqual([ids[0], ids[0]]);
  });

  it('after an ambiguous outcome, at-most-once refuses to send again and at-least-once sends again', async () => {
    teams.respond = () => ({ status: 202, hangUp: true });
    const once = key();
    await expect(activities.sendTeams({ deliveryKey: once, text: 'x', delivery: 'at-most-once' })).rejects.toMatchObject({
      type: 'ProviderUnavailable',
    });
    expect(await ledgerRow(once)).toMatchObject({ status: 'UNKNOWN' });
    teams.respond = () => ({ status: 202 });
    await expect(activities.sendTeams({ deliveryKey: once, text: 'x', delivery: 'at-most-once' })).rejects.toMatchObject({
      type: 'DeliveryOutcomeUnknown',
      nonRetryable: true,
    });
    expect(teams.requests).toHaveLength(1);

    teams.respond = () => ({ status: 202, hangUp: true });
    const atLeast = key();
    await expect(activities.sendTeams({ deliveryKey: atLeast, text: 'x' })).rejects.toMatchObject({ type: 'ProviderUnavailable' });
    teams.respond = () => ({ status: 202 });
    await activities.sendTeams({ deliveryKey: atLeast, text: 'x' });
    expect(teams.requests).toHaveLength(3);
    expect(await ledgerRow(atLeast)).toMatchObject({ status: 'SENT', attempts: 2 });
  });
  it('begins no send in an attempt Temporal has given up on', async () => {
    const deliveryKey = key();
    const attempt = new MockActivityEnvironment();
    // What the worker does when a heartbeat hears that Temporal timed the attempt out.
    attempt.cancel('TIMED_OUT');
    await expect(attempt.run(activities.sendTeams, { deliveryKey, text: 'x' })).rejects.toBeInstanceOf(CancelledFailure);
    expect(teams.requests).toHaveLength(0);
    expect(await h.db.selectFrom('deliveries').select('status').where('delivery_key', '=', deliveryKey).executeTakeFirst()).toBeUndefined();
  });

  it("keeps a newer attempt's send SENT when an attempt Temporal gave up on fails its own afterwards", async () => {
    const deliveryKey = key();
    // The first attempt's post waits at the peer, as a stalled attempt's would, and is then refused.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const late = new Set<RecordedRequest>();
    teams.onArrival = (req) => {
      if (late.size > 0) return undefined;
      late.add(req);
      return released;
    };
    teams.respond = (req) => (late.has(req) ? { status: 503 } : { status: 202 });
    const stalled = activities.sendTeams({ deliveryKey, text: 'x' });
    await eventually(async () => (late.size === 1 ? true : undefined));
    // Temporal gives that attempt up; the next takes the row over and sends.
    await h.db.updateTable('deliveries').set({ status: 'UNKNOWN' }).where('delivery_key', '=', deliveryKey).execute();
    await activities.sendTeams({ deliveryKey, text: 'x' });
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'SENT', attempts: 2 });

    release();
    await expect(stalled).rejects.toMatchObject({ type: 'ProviderUnavailable' });
    teams.onArrival = undefined;
    expect(await ledgerRow(deliveryKey)).toMatchObject({ status: 'SENT', attempts: 2 });
    expect(await activities.sendTeams({ deliveryKey, text: 'x' })).toMatchObject({ deduplicated: true });
    expect(teams.requests).toHaveLength(2);
  });
});

describe('runs', () => {
  const definition = {
    key: 'all-channels',
    name: 'All channels',
    steps: [
      { id: 'mail', type: 'email', to: '{{ input.email }}', subject: 'Hello', text: 'Hi {{ input.name }}' },
      { id: 'chat', type: 'slack', channel: '#ops', text: 'New customer {{ input.name }}' },
      { id: 'text', type: 'sms', to: '{{ input.phone }}', body: 'Welcome {{ input.name }}' },
      { id: 'card', type: 'teams', title: 'New customer', text: '{{ input.name }} signed up' },
    ],
  };

  it('delivers on every channel once, keeps secrets out of history and mirror, and does not re-send after a reset', async () => {
    const created = await h.api('POST', '/api/workflows', definition);
    expect(created.status).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, {
      triggerData: { email: 'ada@example.test', name: 'Ada', phone: '+14155550123' },
    });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    await handle.result();
    const counts = () => [smtp.messages.length, slack.requests.length, twilio.requests.length, teams.requests.length];
    expect(counts()).toEqual([1, 1, 1, 1]);

    // No secret in the run's full history, nor in any mirror or ledger row.
    const history = await readableHistory(handle);
    // The decoded history does hold the run's data: the search below can find what is there.
    expect(history).toContain('ada@example.test');
    const rows = JSON.stringify(
      await Promise.all([
        h.db.selectFrom('workflow_executions').selectAll().execute(),
        h.db.selectFrom('workflow_execution_logs').selectAll().execute(),
        h.db.selectFrom('deliveries').selectAll().execute(),
      ]),
    );
    for (const secret of Object.values(SECRETS)) {
      expect(history).not.toContain(secret);
      expect(rows).not.toContain(secret);
    }

    // An admin resets the run to its first workflow task: a new run id, the same workflow id,
    // the same delivery keys — so nothing is delivered twice.
    const events = (await handle.fetchHistory()).events ?? [];
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes);
    const reset = await h.connection.workflowService.resetWorkflowExecution({
      namespace: h.config.temporal.namespace,
      workflowExecution: { workflowId: started.body.workflowId, runId: started.body.runId },
      workflowTaskFinishEventId: firstTask?.eventId,
      reason: 'replay after a fix',
      requestId: randomUUID(),
    });
    expect(reset.runId).not.toBe(started.body.runId);
    await h.client.workflow.getHandle(started.body.workflowId, reset.runId ?? undefined).result();
    expect(counts()).toEqual([1, 1, 1, 1]);
  });
});

describe('GET /api/executions/:id/deliveries', () => {
  const definition = {
    key: 'ledger-answer',
    name: 'Ledger answer',
    steps: [
      { id: 'mail', type: 'email', to: '{{ input.email }}', subject: 'Hello', text: 'Hi {{ input.name }}' },
      { id: 'text', type: 'sms', to: '{{ input.phone }}', body: 'Welcome {{ input.name }}' },
    ],
  };

  beforeAll(async () => {
    expect((await h.api('POST', '/api/workflows', definition)).status).toBe(201);
  });

  it("answers the run's ledger rows, oldest first, by execution id or workflow id, with the environment's settings as no connection", async () => {
    const started = await h.api('POST', '/api/workflows/ledger-answer/execute', {
      triggerData: { email: 'grace@example.test', name: 'Grace', phone: '+14155550124' },
    });
    expect(started.status).toBe(202);
    await h.client.workflow.getHandle(started.body.workflowId).result();

    const res = await h.api('GET', `/api/executions/${started.body.executionId}/deliveries`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.executionId).toBe(started.body.executionId);
    expect(res.body.items).toEqual([
      {
        stepPath: 'mail',
        channel: 'email',
        status: 'SENT',
        attempts: 1,
        recipient: 'grace@example.test',
        connection: null,
        connectionVersion: null,
        error: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
      {
        stepPath: 'text',
        channel: 'sms',
        status: 'SENT',
        attempts: 1,
        recipient: '+14155550124',
        connection: null,
        connectionVersion: null,
        error: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    // The times are the ledger's, as it holds them.
    const rows = await h.db.selectFrom('deliveries').selectAll().where('workflow_id', '=', started.body.workflowId).orderBy('created_at').execute();
    expect(res.body.items.map((d: { createdAt: string; updatedAt: string }) => [d.createdAt, d.updatedAt])).toEqual(
      rows.map((r) => [r.created_at.toISOString(), r.updated_at.toISOString()]),
    );
    // Never what the provider answered or the message said.
    expect(rows.map((r) => r.provider_message_id)).toEqual([expect.any(String), expect.stringMatching(/^SM/)]);
    for (const said of ['Hi Grace', 'Welcome Grace', ...rows.map((r) => r.provider_message_id!)]) expect(JSON.stringify(res.body)).not.toContain(said);

    const byWorkflowId = await h.api('GET', `/api/executions/${encodeURIComponent(started.body.workflowId)}/deliveries`);
    expect(byWorkflowId.body).toEqual(res.body);
  });

  it('says why a send failed, as the step reported it, and that a retried send went out', async () => {
    // Twilio refuses this number (21211), for good; Teams answers 503 once, then takes the card.
    const created = await h.api('POST', '/api/workflows', {
      key: 'ledger-failures',
      name: 'Ledger failures',
      steps: [
        { id: 'card', type: 'teams', text: 'Deploy finished' },
        { id: 'text', type: 'sms', to: '+15550001234', body: 'Hello' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    let teamsCalls = 0;
    teams.respond = () => ({ status: ++teamsCalls === 1 ? 503 : 202 });
    const started = await h.api('POST', '/api/workflows/ledger-failures/execute', { triggerData: {} });
    expect(started.status).toBe(202);
    await expect(h.client.workflow.getHandle(started.body.workflowId).result()).rejects.toThrow();

    const res = await h.api('GET', `/api/executions/${started.body.executionId}/deliveries`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({ stepPath: 'card', channel: 'teams', status: 'SENT', attempts: 2, error: null }),
      expect.objectContaining({ stepPath: 'text', channel: 'sms', status: 'FAILED', attempts: 1, error: expect.stringMatching(/21211/) }),
    ]);
  });

  it("takes in a run's foreach chunks, and no other run whose workflow id its own would match as a pattern", async () => {
    const id = randomUUID();
    const workflowId = `ledger_run-${id}`;
    const { id: definitionId } = await h.db.selectFrom('workflow_definitions').select('id').where('key', '=', 'ledger-answer').executeTakeFirstOrThrow();
    await h.db
      .insertInto('workflow_executions')
      .values({
        id,
        definition_id: definitionId,
        definition_version: 1,
        workflow_id: workflowId,
        run_id: null,
        status: 'RUNNING',
        trigger_type: 'manual',
        trigger_data: '{}',
        template_key: null,
        category: 'tests',
        current_step: null,
        error: null,
        finished_at: null,
        duration_ms: null,
      })
      .execute();
    const row = (wf: string, stepPath: string, at: string) => ({
      delivery_key: `${wf}/${stepPath}`,
      channel: 'email',
      status: 'SENT',
      attempts: 1,
      workflow_id: wf,
      step_path: stepPath,
      recipient: 'x@example.test',
      provider_message_id: null,
      result: null,
      last_error: null,
      created_at: new Date(at),
      updated_at: new Date(at),
    });
    await h.db
      .insertInto('deliveries')
      .values([
        row(workflowId, 'first', '2026-12-01T10:00:00Z'),
        row(`${workflowId}:each:500`, 'each[500].mail', '2026-12-01T10:01:00Z'),
        row(`${workflowId}:each:500:inner:0`, 'each[501].inner[0].mail', '2026-12-01T10:02:00Z'),
        // `_` is a single-character wildcard to LIKE: a run of another id must not match it.
        row(`ledgerXrun-${id}:each:0`, 'each[0].mail', '2026-12-01T10:03:00Z'),
        row(`${workflowId}x`, 'other', '2026-12-01T10:04:00Z'),
      ])
      .execute();
    const res = await h.api('GET', `/api/executions/${id}/deliveries`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items.map((d: { stepPath: string }) => d.stepPath)).toEqual(['first', 'each[500].mail', 'each[501].inner[0].mail']);
  });

  it('reads the ledger through an index, both the run and its chunks, never the whole table', async () => {
    const compiled = runDeliveriesQuery(h.db, 'ledger-answer-3f1b0f8e-0000-4000-8000-000000000000').compile();
    const plan = await h.db.transaction().execute(async (trx) => {
      // With sequential scans priced out, the planner takes one only where no index serves the query.
      await sql`set local enable_seqscan = off`.execute(trx);
      const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]));
      return result.rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan, plan).not.toMatch(/Seq Scan on deliveries/);
    // The chunks' part is a range of the index (idx_deliveries_workflow_id_prefix outside the C locale), not a filter over all of it.
    expect(plan, plan).toMatch(/Index Cond: \(\(workflow_id (~>=~|>=) '[^']*:'::text\) AND \(workflow_id (~<~|<) /);
  });

  it('answers 404 problem+json for an unknown run, and 400 for an id that is not text', async () => {
    for (const unknown of ['3f1b0f8e-0000-4000-8000-000000000000', 'no-such-run']) {
      const res = await h.api('GET', `/api/executions/${unknown}/deliveries`);
      expect(res.status, unknown).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'not_found', detail: expect.stringContaining(unknown) });
    }
    const bad = await h.api('GET', '/api/executions/bad%00id/deliveries');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_text');
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['$.params.id']);
  });
});
