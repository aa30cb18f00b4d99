/**
 * The `pagerduty` step against a loopback stand-in for PagerDuty's Events API
 * v2 that keeps incidents by dedup key: a run opens an incident and resolves
 * it; the delivery ledger keeps a repeated send from sending twice; the
 * routing key reaches the stand-in and nothing else (history, mirror, ledger,
 * outputs, errors); without a routing key the event goes to the dev outbox.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { type HttpSink, type RecordedRequest, startHttpSink } from '../../scripts/lib/sinks';
import { isOutboxResult } from '../../src/shared/run';
import { createHarness, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';

const ROUTING_KEY = 'R0UT1NGKEYpd7f3a91c2';

let h: Harness;
let pagerduty: HttpSink;
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
  pagerduty = await startHttpSink();
  h = await createHarness({ env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY, PAGERDUTY_EVENTS_URL: `${pagerduty.url}/v2/enqueue` } });
  activities = createActivities({ config: h.config, db: h.db });
});

beforeEach(() => {
  pagerduty.respond = eventsApi;
  pagerduty.requests.length = 0;
});

afterAll(async () => {
  await h?.close();
  await pagerduty?.close();
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
