/**
 * The `pagerduty` step against a loopback stand-in for PagerDuty's Events API
 * v2 that keeps incidents by dedup key: a run opens an incident and resolves
 * it; the delivery ledger keeps a repeated send from sending twice; the
 * routing key reaches the stand-in and nothing else (history, mirror, ledger,
 * outputs, errors); without a routing key the event goes to the dev outbox.
 * The incident-alert template pages through it, beside its Slack posts and
 * email, and escalates by email even when PagerDuty refuses the page.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { type HttpSink, type RecordedRequest, type SmtpSink, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { isOutboxResult } from '../../src/shared/run';
import { loadTemplates } from '../../src/templates';
import { createHarness, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';

const ROUTING_KEY = 'R0UT1NGKEYpd7f3a91c2';

let h: Harness;
let pagerduty: HttpSink;
let slack: HttpSink;
let smtp: SmtpSink;
let activities: ReturnType<typeof createActivities>;

/** What the stand-in knows of each incident, by dedup key. */
const incidents = new Map<string, { status: 'triggered' | 'acknowledged' | 'resolved'; summary?: string }>();

/** Answers like the Events API: 202 with the event's dedup key, or 400 for an event it cannot take. */
function eventsApi(req: RecordedRequest) {
  const event = req.json as { routing_key?: string; event_action?: string; dedup_key?: string; payload?: { summary?: string } } | undefined;
  if (req.method !== 'POST' || req.path !== '/v2/enqueue' || !event?.routing_key || !event.dedup_key) {
    return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ['missing field'] } };
  }
  const known = incidents.get(event.dedup_key);
  if (event.event_action === 'trigger') incidents.set(event.dedup_key, { status: 'triggered', summary: event.payload?.summary });
  else if (known && event.event_action === 'acknowledge') known.status = 'acknowledged';
  else if (known && event.event_action === 'resolve') known.status = 'resolved';
  return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: event.dedup_key } };
}

beforeAll(async () => {
  [pagerduty, slack, smtp] = await Promise.all([startHttpSink(), startHttpSink(), startSmtpSink()]);
  h = await createHarness({
    env: {
      PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      PAGERDUTY_EVENTS_URL: `${pagerduty.url}/v2/enqueue`,
      // For the template's other steps.
      SLACK_WEBHOOK_URL: `${slack.url}/slack-webhook`,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
    },
  });
  activities = createActivities({ config: h.config, db: h.db });
});

beforeEach(() => {
  pagerduty.respond = eventsApi;
  pagerduty.requests.length = 0;
});

afterAll(async () => {
  await h?.close();
  await Promise.all([pagerduty?.close(), slack?.close(), smtp?.close()]);
});

const key = () => `wf-${randomUUID()}/page`;

describe('a run', () => {
  const definition = {
    key: 'payment-incident',
    name: 'Payment incident',
    steps: [
      {
        id: 'page',
        type: 'pagerduty',
        action: 'trigger',
        summary: 'Payment failed for order {{ input.orderId }}',
        source: 'checkout',
        severity: 'critical',
        customDetails: { orderId: '{{ input.orderId }}', amount: '{{ input.amount }}' },
      },
      { id: 'ack', type: 'pagerduty', action: 'acknowledge', dedupKey: '{{ steps.page.output.dedupKey }}' },
      { id: 'done', type: 'pagerduty', action: 'resolve', dedupKey: '{{ steps.page.output.dedupKey }}' },
    ],
  };

  it('triggers an incident, acknowledges and resolves it, and keeps the routing key out of history, mirror and ledger', async () => {
    const created = await h.api('POST', '/api/workflows', { ...definition, key: `payment-incident-${randomUUID().slice(0, 8)}` });
    expect(created.status).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { orderId: 'A-1042', amount: 99.5 } });
    expect(started.status).toBe(202);
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    await handle.result();

    // Without a dedup key of its own, the trigger's is its delivery key: the run's workflow id and the step's path.
    const dedupKey = `${started.body.workflowId}/page`;
    expect(pagerduty.requests.map((r) => r.json)).toEqual([
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: dedupKey,
        payload: { summary: 'Payment failed for order A-1042', source: 'checkout', severity: 'critical', custom_details: { orderId: 'A-1042', amount: 99.5 } },
      },
      { routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: dedupKey },
      { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: dedupKey },
    ]);
    expect(incidents.get(dedupKey)).toEqual({ status: 'resolved', summary: 'Payment failed for order A-1042' });

    const deliveries = await h.db.selectFrom('deliveries').selectAll().where('workflow_id', '=', started.body.workflowId).orderBy('step_path').execute();
    expect(deliveries.map((d) => [d.step_path, d.channel, d.status, d.recipient])).toEqual([
      ['ack', 'pagerduty', 'SENT', dedupKey],
      ['done', 'pagerduty', 'SENT', dedupKey],
      ['page', 'pagerduty', 'SENT', dedupKey],
    ]);
    const run = await h.api('GET', `/api/executions/${started.body.executionId}`);
    expect(run.body.status).toBe('SUCCESS');

    const history = await readableHistory(handle);
    expect(history).toContain('A-1042');
    const rows = JSON.stringify(
      await Promise.all([
        h.db.selectFrom('workflow_executions').selectAll().execute(),
        h.db.selectFrom('workflow_execution_logs').selectAll().execute(),
        h.db.selectFrom('deliveries').selectAll().execute(),
      ]),
    );
    for (const text of [history, rows, JSON.stringify(run.body)]) expect(text).not.toContain(ROUTING_KEY);
  });
});

describe('the sendPagerDuty activity', () => {
  const trigger = { action: 'trigger', dedupKey: 'disk-full-db1', summary: 'Disk full on db1', source: 'db1', severity: 'error' } as const;

  it('answers the incident dedup key, and a second call with the same delivery key does not send again', async () => {
    const deliveryKey = key();
    const first = await activities.sendPagerDuty({ deliveryKey, ...trigger });
    expect(first).toEqual({ action: 'trigger', dedupKey: 'disk-full-db1', status: 'success' });
    const again = await activities.sendPagerDuty({ deliveryKey, ...trigger });
    expect(again).toMatchObject({ dedupKey: 'disk-full-db1', deduplicated: true });
    expect(pagerduty.requests).toHaveLength(1);
  });

  it('classifies answers: 400 fails for good, 5xx and 429 are retried; no error names the routing key', async () => {
    pagerduty.respond = () => ({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid' } });
    const refused = await activities.sendPagerDuty({ deliveryKey: key(), ...trigger }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    pagerduty.respond = () => ({ status: 503 });
    const down = await activities.sendPagerDuty({ deliveryKey: key(), ...trigger }).catch((err: unknown) => err);
    expect(down).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    pagerduty.respond = () => ({ status: 429, headers: { 'retry-after': '3' } });
    const limited = await activities.sendPagerDuty({ deliveryKey: key(), ...trigger }).catch((err: unknown) => err);
    expect(limited).toMatchObject({ type: 'ProviderRateLimited', nonRetryable: false, nextRetryDelay: 3000 });
    for (const err of [refused, down, limited]) expect(JSON.stringify({ message: (err as Error).message, err })).not.toContain(ROUTING_KEY);
  });

  it('refuses a rendered input its action cannot use before anything is sent', async () => {
    await expect(activities.sendPagerDuty({ deliveryKey: key(), action: 'resolve', dedupKey: '' })).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
    });
    expect(pagerduty.requests).toHaveLength(0);
  });

  it('records the event in the dev outbox without a routing key, and fails naming the variable where the outbox is off', async () => {
    const unconfigured = { ...h.config, pagerduty: { ...h.config.pagerduty, routingKey: undefined } };
    const outboxOn = createActivities({ config: { ...unconfigured, devOutbox: true }, db: h.db });
    const held = await outboxOn.sendPagerDuty({ deliveryKey: key(), ...trigger });
    expect(isOutboxResult(held)).toBe(true);
    expect(held).toMatchObject({ delivered: false, channel: 'pagerduty', missing: ['PAGERDUTY_ROUTING_KEY'] });
    const outboxOff = createActivities({ config: { ...unconfigured, devOutbox: false }, db: h.db });
    await expect(outboxOff.sendPagerDuty({ deliveryKey: key(), ...trigger })).rejects.toMatchObject({
      type: 'ChannelNotConfigured',
      message: expect.stringContaining('set PAGERDUTY_ROUTING_KEY'),
    });
    expect(pagerduty.requests).toHaveLength(0);
  });
});

describe('the incident-alert template', () => {
  async function runTemplate(triggerData: Record<string, unknown>) {
    const template = (await loadTemplates()).find((t) => t.key === 'incident-alert')!;
    const created = await h.api('POST', '/api/workflows', { ...template.definition, key: `incident-alert-${randomUUID().slice(0, 8)}` });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { ...template.exampleTriggerData, ...triggerData } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    const posts = slack.requests.map((r) => (r.json as { text: string }).text);
    slack.requests.length = 0;
    return { result, posts };
  }

  it('pages the stand-in for a high-severity incident, keyed by its incident id, beside its Slack posts and email', async () => {
    const incidentId = `INC-${randomUUID().slice(0, 8)}`;
    const { result, posts } = await runTemplate({ incidentId });
    expect(result.status).toBe('SUCCESS');
    expect(pagerduty.requests.map((r) => r.json)).toEqual([
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: incidentId,
        payload: {
          summary: `[HIGH] ${incidentId}: Checkout API error rate above 5%`,
          source: 'checkout-api',
          severity: 'critical',
          custom_details: {
            severity: 'high',
            summary: '5xx responses on POST /checkout rose to 7.3% over the last 10 minutes.',
            startedAt: '2026-03-09T14:05:00Z',
            dashboardUrl: 'https://status.example.com/incidents/INC-2217',
          },
        },
      },
    ]);
    expect(incidents.get(incidentId)).toEqual({ status: 'triggered', summary: `[HIGH] ${incidentId}: Checkout API error rate above 5%` });
    expect(posts).toHaveLength(2);
    expect(posts[1]).toBe(`:rotating_light: ${incidentId} escalated to PagerDuty and by email to oncall-payments@example.com.`);
    expect(smtp.messages.filter((m) => m.raw.includes(incidentId)).map((m) => m.to)).toEqual([['oncall-payments@example.com', 'eng-leads@example.com']]);

    // The same incident alerted again adds to the open incident: the dedup key is the incident's id.
    await runTemplate({ incidentId });
    expect(pagerduty.requests.map((r) => (r.json as { dedup_key: string }).dedup_key)).toEqual([incidentId, incidentId]);
  });

  it('escalates by email even when PagerDuty refuses the page, and says it did not page', async () => {
    pagerduty.respond = () => ({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid' } });
    const incidentId = `INC-${randomUUID().slice(0, 8)}`;
    const { result, posts } = await runTemplate({ incidentId, severity: 'critical' });
    expect(result.status).toBe('SUCCESS');
    expect(pagerduty.requests).toHaveLength(1);
    expect(posts[1]).toBe(`:rotating_light: ${incidentId} escalated by email to oncall-payments@example.com.`);
    expect(smtp.messages.filter((m) => m.raw.includes(incidentId))).toHaveLength(1);
  });

  it('pages no one for a low-severity incident', async () => {
    const { result, posts } = await runTemplate({ incidentId: `INC-${randomUUID().slice(0, 8)}`, severity: 'low' });
    expect(result.status).toBe('SUCCESS');
    expect(pagerduty.requests).toHaveLength(0);
    expect(posts).toHaveLength(1);
  });
});
