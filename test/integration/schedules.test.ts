/**
 * Schedule triggers on the real dev server: a Temporal Schedule follows the
 * definition (created, updated, deleted when disabled); each firing pins the
 * version current then and writes its own mirror row.
 */
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefinitionVersion, TriggerType } from '../../src/shared/search-attributes';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

const definition = (mark: number, extra: Record<string, unknown> = {}) => ({
  key: 'nightly-report',
  name: 'Nightly report',
  trigger: { type: 'schedule', cron: '30 2 * * *', timezone: 'Europe/Paris' },
  steps: [{ id: 'mark', type: 'set', values: { version: mark, at: '{{ input.scheduledAt }}' } }],
  ...extra,
});

async function fire(definitionId: string, after: number) {
  // A scheduled run's workflow id ends in its start time to the second: two
  // triggers within one second would collide, so the next one waits for the next second.
  await new Promise((resolve) => setTimeout(resolve, 1_050 - (Date.now() % 1_000)));
  // ALLOW_ALL: with the schedule's SKIP policy, a trigger that arrives before the schedule has seen
  // the previous run close would be dropped.
  await h.client.schedule.getHandle('definition-nightly-report').trigger('ALLOW_ALL');
  return eventually(async () => {
    const rows = await h.db
      .selectFrom('workflow_executions')
      .selectAll()
      .where('definition_id', '=', definitionId)
      .where('status', '=', 'SUCCESS')
      .orderBy('started_at', 'desc')
      .execute();
    return rows.length > after ? rows[0] : undefined;
  }, undefined, 'the scheduled run to finish');
}

describe('schedule triggers', () => {
  it('refuses a cron or time zone that does not parse, naming the field', async () => {
    const cron = await h.api('POST', '/api/workflows', definition(1, { key: 'bad-cron', trigger: { type: 'schedule', cron: '61 * * * *' } }));
    expect(cron.status).toBe(400);
    expect(cron.body.errors[0].path).toBe('$.trigger.cron');
    const tz = await h.api('POST', '/api/workflows', definition(1, { key: 'bad-tz', trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Mars/Olympus' } }));
    expect(tz.body.errors[0]).toMatchObject({ path: '$.trigger.timezone', message: expect.stringMatching(/unknown time zone/) });
  });

  it('creates a schedule, runs the version current at each firing, and removes the schedule when disabled', async () => {
    const created = await h.api('POST', '/api/workflows', definition(1));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.schedule).toEqual({ id: 'definition-nightly-report', sync: 'created' });
    const description = await h.client.schedule.getHandle('definition-nightly-report').describe();
    expect(description.spec.timezone).toBe('Europe/Paris');
    // The definition says when it fires next: 02:30 in Paris, the next five days.
    const read = await h.api('GET', '/api/workflows/nightly-report');
    expect(read.body.schedule).toMatchObject({ id: 'definition-nightly-report', paused: false, lastFiredAt: null });
    const next = (read.body.schedule.nextFireTimes as string[]).map((t) => new Date(t));
    expect(next).toHaveLength(5);
    for (const [i, t] of next.entries()) {
      expect(t.getTime()).toBeGreaterThan(Date.now());
      expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(t)).toBe('02:30');
      if (i > 0) expect(Math.round((t.getTime() - next[i - 1]!.getTime()) / 3_600_000)).toBeGreaterThanOrEqual(23);
    }

    const first = await fire(created.body.id, 0);
    expect(first).toMatchObject({ trigger_type: 'schedule', definition_version: 1 });
    expect(first.run_id).toBeTruthy();
    const run = h.client.workflow.getHandle(first.workflow_id);
    expect((await run.result()).vars.version).toBe(1);
    const attributes = (await run.describe()).typedSearchAttributes;
    expect(attributes.get(TriggerType)).toBe('schedule');
    expect(attributes.get(DefinitionVersion)).toBe(1);

    const updated = await h.api('PUT', '/api/workflows/nightly-report', definition(2));
    expect(updated.body.schedule.sync).toBe('updated');
    const second = await fire(created.body.id, 1);
    expect(second.definition_version).toBe(2);
    expect((await h.client.workflow.getHandle(second.workflow_id).result()).vars.version).toBe(2);

    const disabled = await h.api('PUT', '/api/workflows/nightly-report', definition(3, { enabled: false }));
    expect(disabled.body.schedule.sync).toBe('deleted');
    await expect(h.client.schedule.getHandle('definition-nightly-report').describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });
});
