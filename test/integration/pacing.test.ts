/**
 * Channel pacing and quiet hours: runs wait on durable timers, visible in
 * their state and history, instead of sending too fast or at night. A
 * connection with a rate of its own is paced apart from its channel and from
 * other connections; one with quiet hours of its own holds its sends.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpSink, startHttpSink, twilioMessagesReply } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { timerSummaries } from '../support/history';

/** 30 a minute: one SMS every 2 s across all runs. */
const SMS_PER_MINUTE = 30;

let h: Harness;
let twilio: HttpSink;
let arrivals: { at: number; to: string }[];

beforeAll(async () => {
  twilio = await startHttpSink();
  twilio.respond = twilioMessagesReply;
  twilio.onRequest = (req) => arrivals.push({ at: Date.now(), to: new URLSearchParams(req.body).get('To') ?? '' });
  h = await createHarness({
    env: {
      TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000001',
      TWILIO_AUTH_TOKEN: 'twilio-token-pacing',
      TWILIO_PHONE_NUMBER: '+14155550100',
      TWILIO_API_URL: twilio.url,
      PACING_SMS_PER_MINUTE: String(SMS_PER_MINUTE),
      CONNECTION_KEYS: `pacing:${randomBytes(32).toString('base64')}`,
    },
  });
});

beforeEach(() => {
  arrivals = [];
});

afterAll(async () => {
  await h?.close();
  await twilio?.close();
});

async function createDefinition(definition: Record<string, unknown>) {
  const res = await h.api('POST', '/api/workflows', definition);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

async function execute(id: string, triggerData: Record<string, unknown>) {
  const res = await h.api('POST', `/api/workflows/${id}/execute`, { triggerData });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { executionId: string; workflowId: string };
}

async function liveStep(executionId: string, stepId: string) {
  const res = await h.api('GET', `/api/executions/${executionId}`);
  const steps = (res.body?.live?.steps ?? []) as { id: string; status: string; waitingUntil?: string; waitingReason?: string }[];
  return steps.find((s) => s.id === stepId);
}

/** The wall-clock time in `timeZone` at `ms`, as HH:MM:SS. */
function localTime(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(ms);
}

describe('channel pacing', () => {
  it('spaces SMS from concurrent runs by the configured rate, each run waiting on a timer shown in its state', async () => {
    const def = await createDefinition({
      key: 'paced-sms',
      name: 'Paced SMS',
      steps: [{ id: 'text', type: 'sms', to: '{{ input.phone }}', body: 'Your code is {{ input.code }}' }],
    });
    const phones = ['+14155550201', '+14155550202', '+14155550203'];
    const runs = await Promise.all(phones.map((phone, i) => execute(def.id, { phone, code: String(1000 + i) })));

    // Someone waits for a slot, and says so while waiting.
    const waiting = await eventually(async () => {
      for (const run of runs) {
        const step = await liveStep(run.executionId, 'text');
        if (step?.status === 'WAITING') return step;
      }
      return undefined;
    }, undefined, 'a run waiting for its SMS slot');
    expect(waiting.waitingReason).toBe('sms pacing');
    expect(Date.parse(waiting.waitingUntil!)).toBeGreaterThan(Date.now() - 5_000);

    const results = await Promise.all(runs.map((r) => h.client.workflow.getHandle(r.workflowId).result()));
    expect(results.map((r) => r.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(arrivals.map((a) => a.to).sort()).toEqual(phones);
    // Each delivery's slot, from the database's clock: 2 s apart, and no message reached Twilio before its slot.
    const slots = await h.db
      .selectFrom('pacing_reservations')
      .select(['delivery_key', 'slot'])
      .where('delivery_key', 'in', runs.map((r) => `${r.workflowId}/text`))
      .orderBy('slot')
      .execute();
    expect(slots).toHaveLength(3);
    for (let i = 1; i < slots.length; i++) {
      expect(slots[i]!.slot.getTime() - slots[i - 1]!.slot.getTime()).toBeGreaterThanOrEqual(60_000 / SMS_PER_MINUTE);
    }
    const arrivalOf = new Map(arrivals.map((a) => [a.to, a.at]));
    for (const slot of slots) {
      const phone = phones[runs.findIndex((r) => slot.delivery_key.startsWith(`${r.workflowId}/`))]!;
      expect(arrivalOf.get(phone)).toBeGreaterThanOrEqual(slot.slot.getTime() - 50);
    }

    // The wait is a durable timer named for the step and its reason, not a sleeping activity.
    const timers = (await Promise.all(runs.map((r) => timerSummaries(h.client.workflow.getHandle(r.workflowId))))).flat();
    expect(timers.length).toBeGreaterThanOrEqual(2);
    for (const summary of timers) expect(summary).toMatch(/^text: sms pacing until /);
  });

  it('keeps the slot a delivery was given when the run asks again, so a waited-for send is not pushed back', async () => {
    const def = await createDefinition({
      key: 'paced-pair',
      name: 'Two SMS in one run',
      steps: [
        { id: 'first', type: 'sms', to: '+14155550211', body: 'one' },
        { id: 'second', type: 'sms', to: '+14155550212', body: 'two' },
      ],
    });
    const run = await execute(def.id, {});
    const result = await h.client.workflow.getHandle(run.workflowId).result();
    expect(result.status).toBe('SUCCESS');
    expect(arrivals).toHaveLength(2);
    const reservations = await h.db
      .selectFrom('pacing_reservations')
      .select(['delivery_key', 'slot'])
      .where('delivery_key', 'like', `${run.workflowId}/%`)
      .orderBy('slot')
      .execute();
    expect(reservations.map((r) => r.delivery_key)).toEqual([`${run.workflowId}/first`, `${run.workflowId}/second`]);
    const spacing = reservations[1]!.slot.getTime() - reservations[0]!.slot.getTime();
    expect(spacing).toBeGreaterThanOrEqual(60_000 / SMS_PER_MINUTE);
  });
});

describe('pacing per connection', () => {
  /** One send a minute: a second send through the same connection waits far longer than a run takes. */
  const ONE_A_MINUTE = 1;

  async function twilioConnection(name: string, perMinute: number | undefined) {
    const settings = { accountSid: `AC${'0'.repeat(31)}2`, phoneNumber: '+14155550300', apiUrl: twilio.url, ...(perMinute === undefined ? {} : { perMinute }) };
    const res = await h.api('POST', '/api/connections', { name, type: 'twilio', settings, secrets: { authToken: `token-${name}` } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }

  async function budgetsOf(workflowId: string) {
    const rows = await h.db.selectFrom('pacing_reservations').select(['delivery_key', 'channel']).where('delivery_key', 'like', `${workflowId}/%`).orderBy('delivery_key').execute();
    return rows.map((r) => [r.delivery_key.slice(workflowId.length + 1), r.channel]);
  }

  it("paces two connections apart: one's sends wait for its slots while the other's go out at once", async () => {
    await twilioConnection('twilio-eu', ONE_A_MINUTE);
    await twilioConnection('twilio-us', ONE_A_MINUTE);
    const pair = await createDefinition({
      key: 'paced-eu-pair',
      name: 'Two SMS through twilio-eu',
      steps: [
        { id: 'first', type: 'sms', connection: 'twilio-eu', to: '+14155550311', body: 'one' },
        { id: 'second', type: 'sms', connection: 'twilio-eu', to: '+14155550312', body: 'two' },
      ],
    });
    const eu = await execute(pair.id, {});
    // twilio-eu's second send waits for its slot, a minute after its first.
    const waiting = await eventually(async () => {
      const step = await liveStep(eu.executionId, 'second');
      return step?.status === 'WAITING' ? step : undefined;
    }, undefined, "twilio-eu's second send waiting for its slot");
    expect(waiting.waitingReason).toBe('sms via twilio-eu pacing');

    // Meanwhile twilio-us, paced alike, sends at once: its budget is its own.
    const one = await createDefinition({ key: 'paced-us-one', name: 'One SMS through twilio-us', steps: [{ id: 'only', type: 'sms', connection: 'twilio-us', to: '+14155550321', body: 'us' }] });
    const us = await execute(one.id, {});
    expect((await h.client.workflow.getHandle(us.workflowId).result()).status).toBe('SUCCESS');
    expect(arrivals.map((a) => a.to).sort()).toEqual(['+14155550311', '+14155550321']);
    expect((await liveStep(eu.executionId, 'second'))?.status).toBe('WAITING');
    expect(await budgetsOf(eu.workflowId)).toEqual([
      ['first', 'connection:twilio-eu'],
      ['second', 'connection:twilio-eu'],
    ]);
    expect(await budgetsOf(us.workflowId)).toEqual([['only', 'connection:twilio-us']]);
    const [timer] = await timerSummaries(h.client.workflow.getHandle(eu.workflowId));
    expect(timer).toMatch(/^second: sms via twilio-eu pacing until /);
    await h.client.workflow.getHandle(eu.workflowId).terminate('the test has seen it wait');
  });

  it("takes the channel's slots for a connection without a rate of its own, and for a step without a connection", async () => {
    await twilioConnection('twilio-shared', undefined);
    const def = await createDefinition({
      key: 'paced-shared',
      name: "SMS on the channel's budget",
      steps: [
        { id: 'through', type: 'sms', connection: 'twilio-shared', to: '+14155550331', body: 'shared' },
        { id: 'plain', type: 'sms', to: '+14155550332', body: 'plain' },
      ],
    });
    const run = await execute(def.id, {});
    expect((await h.client.workflow.getHandle(run.workflowId).result()).status).toBe('SUCCESS');
    expect(await budgetsOf(run.workflowId)).toEqual([
      ['plain', 'sms'],
      ['through', 'sms'],
    ]);
  });

  it("holds a send through a connection with quiet hours until its window ends, in the connection's zone", async () => {
    const zone = 'Pacific/Auckland';
    // As the step's quiet hours below: long enough to see the run wait before the window ends.
    const endsAt = Date.now() + 10_000;
    const quietHours = { start: localTime(Date.now() - 3_600_000, zone), end: localTime(endsAt, zone), timeZone: zone };
    const res = await h.api('POST', '/api/connections', {
      name: 'twilio-night',
      type: 'twilio',
      settings: { accountSid: `AC${'0'.repeat(31)}3`, phoneNumber: '+14155550300', apiUrl: twilio.url, quietHours },
      secrets: { authToken: 'token-twilio-night' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.settings.quietHours).toEqual(quietHours);
    const def = await createDefinition({
      key: 'quiet-connection',
      name: 'SMS through a connection with quiet hours',
      steps: [{ id: 'remind', type: 'sms', connection: 'twilio-night', to: '+14155550341', body: 'Reminder' }],
    });
    const run = await execute(def.id, {});
    const waiting = await eventually(async () => {
      const step = await liveStep(run.executionId, 'remind');
      return step?.status === 'WAITING' ? step : undefined;
    }, undefined, "the step waiting out its connection's quiet hours");
    expect(waiting.waitingReason).toBe(`quiet hours of twilio-night (${quietHours.start}–${quietHours.end} ${zone})`);
    expect(Math.abs(Date.parse(waiting.waitingUntil!) - endsAt)).toBeLessThan(1_000);
    expect(arrivals).toHaveLength(0);
    // Nothing reserved while the window holds it: the slot is taken when it asks again.
    expect(await budgetsOf(run.workflowId)).toEqual([]);

    const result = await h.client.workflow.getHandle(run.workflowId).result();
    expect(result.status).toBe('SUCCESS');
    expect(arrivals.map((a) => a.to)).toEqual(['+14155550341']);
    expect(arrivals[0]!.at).toBeGreaterThanOrEqual(endsAt - 1_000);
    expect(await budgetsOf(run.workflowId)).toEqual([['remind', 'sms']]);
    const [summary] = await timerSummaries(h.client.workflow.getHandle(run.workflowId));
    expect(summary).toMatch(/^remind: quiet hours of twilio-night \(.* Pacific\/Auckland\) until /);
  });

  it('refuses quiet hours with a template for a zone, or a window that cannot work, naming the field', async () => {
    const settings = { accountSid: `AC${'0'.repeat(32)}`, phoneNumber: '+14155550300' };
    const refused = async (quietHours: Record<string, unknown>) => {
      const res = await h.api('POST', '/api/connections', { name: 'twilio-bad-quiet', type: 'twilio', settings: { ...settings, quietHours }, secrets: { authToken: 't' } });
      expect(res.status).toBe(400);
      return (res.body.errors as { path: string }[]).map((e) => e.path);
    };
    expect(await refused({ start: '21:00', end: '08:00', timeZone: '{{ input.zone }}' })).toEqual(['$.body.settings.quietHours.timeZone']);
    expect(await refused({ start: '9pm', end: '08:00', timeZone: 'UTC' })).toEqual(['$.body.settings.quietHours.start']);
    expect(await refused({ start: '08:00', end: '08:00', timeZone: 'UTC' })).toEqual(['$.body.settings.quietHours.end']);
  });

  it('refuses a rate that is not a whole number of sends a minute, naming the field', async () => {
    const res = await h.api('POST', '/api/connections', {
      name: 'twilio-bad-rate',
      type: 'twilio',
      settings: { accountSid: `AC${'0'.repeat(32)}`, phoneNumber: '+14155550300', perMinute: -5 },
      secrets: { authToken: 't' },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: '$.body.settings.perMinute' })]);
  });
});

describe('quiet hours', () => {
  it("holds a message until the quiet window ends in the recipient's time zone, then sends it", async () => {
    const zone = 'Asia/Kolkata';
    // Long enough that the run is seen waiting before the window ends: ten times what saving,
    // starting and reaching the step take on a loaded machine (about a second).
    const endsAt = Date.now() + 10_000;
    const def = await createDefinition({
      key: 'quiet-sms',
      name: 'Quiet SMS',
      steps: [
        {
          id: 'remind',
          type: 'sms',
          to: '+14155550221',
          body: 'Reminder',
          quietHours: { start: localTime(Date.now() - 3_600_000, zone), end: localTime(endsAt, zone), timeZone: '{{ input.zone }}' },
        },
      ],
    });
    const run = await execute(def.id, { zone });
    const waiting = await eventually(async () => {
      const step = await liveStep(run.executionId, 'remind');
      return step?.status === 'WAITING' ? step : undefined;
    }, undefined, 'the step waiting out quiet hours');
    expect(waiting.waitingReason).toMatch(/^quiet hours \(\d\d:\d\d:\d\d–\d\d:\d\d:\d\d Asia\/Kolkata\)$/);
    expect(Math.abs(Date.parse(waiting.waitingUntil!) - endsAt)).toBeLessThan(1_000);
    expect(arrivals).toHaveLength(0);

    const result = await h.client.workflow.getHandle(run.workflowId).result();
    expect(result.status).toBe('SUCCESS');
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]!.at).toBeGreaterThanOrEqual(endsAt - 1_000);
    const [summary] = await timerSummaries(h.client.workflow.getHandle(run.workflowId));
    expect(summary).toMatch(/^remind: quiet hours \(.* Asia\/Kolkata\) until /);
  });

  it('sends at once outside the window', async () => {
    const zone = 'America/New_York';
    const def = await createDefinition({
      key: 'daytime-sms',
      name: 'Daytime SMS',
      steps: [
        {
          id: 'remind',
          type: 'sms',
          to: '+14155550222',
          body: 'Reminder',
          quietHours: { start: localTime(Date.now() + 3_600_000, zone), end: localTime(Date.now() + 7_200_000, zone), timeZone: zone },
        },
      ],
    });
    const run = await execute(def.id, {});
    expect((await h.client.workflow.getHandle(run.workflowId).result()).status).toBe('SUCCESS');
    // Pacing may still hold it for its slot (the channel is paced here); quiet hours do not.
    const summaries = await timerSummaries(h.client.workflow.getHandle(run.workflowId));
    expect(summaries.filter((t) => t.includes('quiet hours'))).toEqual([]);
  });

  it('fails the step, naming the zone, when a templated time zone is unknown', async () => {
    const def = await createDefinition({
      key: 'bad-zone-sms',
      name: 'Bad zone',
      steps: [
        {
          id: 'remind',
          type: 'sms',
          to: '+14155550223',
          body: 'Reminder',
          quietHours: { start: '00:00', end: '23:59', timeZone: '{{ input.zone }}' },
        },
      ],
    });
    const run = await execute(def.id, { zone: 'Atlantis/Capital' });
    const failure = await h.client.workflow
      .getHandle(run.workflowId)
      .result()
      .catch((e: unknown) => e);
    expect(String((failure as { cause?: { message?: string } }).cause?.message)).toContain(
      'step "remind": quietHours.timeZone "Atlantis/Capital" is not an IANA time zone',
    );
    expect(arrivals).toHaveLength(0);
  });

  it('refuses at save time a literal zone, a time or a window that cannot work, each with its path', async () => {
    const res = await h.api('POST', '/api/workflows/validate', {
      key: 'bad-quiet',
      name: 'Bad quiet hours',
      steps: [
        { id: 'a', type: 'sms', to: '+14155550224', body: 'x', quietHours: { start: '21:00', end: '08:00', timeZone: 'Mars/Base' } },
        { id: 'b', type: 'email', to: 'x@example.test', subject: 's', text: 't', quietHours: { start: '9pm', end: '08:00', timeZone: 'UTC' } },
        { id: 'c', type: 'slack', text: 't', quietHours: { start: '08:00', end: '08:00', timeZone: 'UTC' } },
      ],
    });
    expect(res.status).toBe(400);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['$.steps[0].quietHours.timeZone', '$.steps[1].quietHours.start', '$.steps[2].quietHours.end']));
  });
});
