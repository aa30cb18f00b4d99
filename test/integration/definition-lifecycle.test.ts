/**
 * Deleting, enabling and disabling definitions on the real dev server: open
 * runs refuse a deletion unless forced, a forced one cancels them, a deleted
 * definition is gone from every route while its runs stay reportable, and a
 * definition's Temporal Schedule follows it.
 */
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { signStandardWebhook } from '../../src/gateway/webhook-signature';
import { createHarness, eventually, type Harness } from '../support/harness';

const WEBHOOK_SECRET = 'whsec_bGlmZWN5Y2xlLXdlYmhvb2stc2VjcmV0LWtleS0wMDE=';
let h: Harness;

beforeAll(async () => {
  h = await createHarness({ env: { WEBHOOK_SIGNATURE_SECRET: WEBHOOK_SECRET } });
});

afterAll(async () => {
  await h?.close();
});

const quick = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  name: `Definition ${key}`,
  category: 'lifecycle',
  steps: [{ id: 'only', type: 'set', values: { x: 1 } }],
  ...extra,
});

/** Waits an hour: a run of it stays open until it is cancelled. */
const slow = (key: string) => ({ ...quick(key), steps: [{ id: 'nap', type: 'delay', duration: '1h' }] });

const nightly = (key: string) => ({ ...quick(key), trigger: { type: 'schedule', cron: '0 3 * * *', timezone: 'UTC' } });

async function create(body: unknown): Promise<{ id: string; key: string }> {
  const res = await h.api('POST', '/api/workflows', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function start(key: string): Promise<{ executionId: string; workflowId: string }> {
  const res = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData: {} });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

const statusOf = async (executionId: string) => (await findExecution(h.db, executionId))?.status;

async function hasSchedule(key: string): Promise<boolean> {
  try {
    await h.client.schedule.getHandle(`definition-${key}`).describe();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

describe('DELETE /api/workflows/:id', () => {
  it('deletes a definition without open runs, hides it everywhere, and keeps its runs for reports', async () => {
    const created = await create(quick('lc-gone', { trigger: { type: 'webhook' } }));
    const run = await start('lc-gone');
    await h.client.workflow.getHandle(run.workflowId).result();
    await eventually(async () => ((await statusOf(run.executionId)) === 'SUCCESS' ? true : undefined));

    const deleted = await h.api('DELETE', `/api/workflows/${created.id}`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body).toMatchObject({ id: created.id, key: 'lc-gone', enabled: false, scheduleDeleted: false, cancelledExecutions: [] });
    expect(Date.parse(deleted.body.deletedAt)).not.toBeNaN();

    // Gone from every route that names it...
    for (const path of [`/api/workflows/${created.id}`, '/api/workflows/lc-gone', '/api/workflows/lc-gone/versions/1']) {
      const res = await h.api('GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    expect((await h.api('GET', '/api/workflows?category=lifecycle&q=lc-gone')).body).toMatchObject({ items: [], total: 0 });
    expect((await h.api('POST', '/api/workflows/lc-gone/execute', { triggerData: {} })).status).toBe(404);
    expect((await h.api('PUT', '/api/workflows/lc-gone', quick('lc-gone'))).status).toBe(404);
    expect((await h.api('POST', '/api/workflows/lc-gone/enable')).status).toBe(404);
    expect((await h.api('DELETE', `/api/workflows/${created.id}`)).status).toBe(404);
    const body = JSON.stringify({ n: 1 });
    const hook = await h.api('POST', '/api/hooks/lc-gone', body, signStandardWebhook(WEBHOOK_SECRET, 'evt_lc_gone', body));
    expect(hook.status).toBe(404);
    // ...and from `call` steps of other definitions.
    const caller = await h.api('POST', '/api/workflows/validate', quick('lc-caller', { steps: [{ id: 'c', type: 'call', definition: 'lc-gone' }] }));
    expect(caller.status).toBe(400);
    expect(caller.body.errors[0]).toMatchObject({ path: '$.steps[0].definition', message: 'no definition has key "lc-gone"' });

    // Its runs stay, found by the deleted definition's id or key.
    for (const definition of [created.id, 'lc-gone']) {
      const runs = await h.api('GET', `/api/executions?definition=${definition}`);
      expect(runs.body.items.map((r: { id: string }) => r.id)).toEqual([run.executionId]);
    }
    expect((await h.api('GET', `/api/executions/${run.executionId}`)).body.status).toBe('SUCCESS');

    // Its key is not reused.
    const again = await h.api('POST', '/api/workflows', quick('lc-gone'));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'definition_key_taken', errors: [{ path: '$.key' }] });
    expect(again.body.detail).toMatch(/a deleted definition used key "lc-gone"; keys are not reused/);
  });

  it('refuses with 409 naming the open runs, then with force=true cancels them and deletes', async () => {
    const created = await create(slow('lc-busy'));
    const first = await start('lc-busy');
    const second = await start('lc-busy');
    await eventually(async () => ((await statusOf(second.executionId)) === 'RUNNING' ? true : undefined));

    const refused = await h.api('DELETE', '/api/workflows/lc-busy');
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'definition_has_open_runs', errors: [{ path: '$.query.force' }] });
    expect(refused.body.detail).toContain('has 2 open run(s)');
    expect(refused.body.detail).toContain(first.executionId);
    expect(refused.body.detail).toMatch(/repeat with \?force=true/);
    // Nothing happened.
    expect((await h.api('GET', '/api/workflows/lc-busy')).status).toBe(200);
    expect(await statusOf(first.executionId)).toBe('RUNNING');

    const forced = await h.api('DELETE', '/api/workflows/lc-busy?force=true');
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body.id).toBe(created.id);
    expect([...forced.body.cancelledExecutions].sort()).toEqual([first.executionId, second.executionId].sort());
    for (const { executionId } of [first, second]) {
      await eventually(async () => ((await statusOf(executionId)) === 'CANCELLED' ? true : undefined), 30_000, `${executionId} cancelled`);
    }
    expect((await h.api('GET', '/api/workflows/lc-busy')).status).toBe(404);
  });

  it('deletes the Temporal Schedule of a scheduled definition', async () => {
    await create(nightly('lc-nightly'));
    expect(await hasSchedule('lc-nightly')).toBe(true);
    const deleted = await h.api('DELETE', '/api/workflows/lc-nightly?force=false');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body.scheduleDeleted).toBe(true);
    expect(await hasSchedule('lc-nightly')).toBe(false);
  });

  it('answers 404 for an unknown definition and 400 naming a bad force value', async () => {
    const unknown = await h.api('DELETE', '/api/workflows/3f1b0f8e-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not_found');
    await create(quick('lc-stays'));
    for (const query of ['force=yes', 'force=', 'force=true&force=true', 'forse=true']) {
      const bad = await h.api('DELETE', `/api/workflows/lc-stays?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.body.code, query).toBe('validation_failed');
      expect(bad.body.errors[0].path, query).toMatch(/^\$\.query/);
    }
    expect((await h.api('GET', '/api/workflows/lc-stays')).status).toBe(200);
  });
});

describe('POST /api/workflows/:id/enable and /disable', () => {
  it('switch the definition idempotently, one version per change, and refuse runs while disabled', async () => {
    const created = await create(quick('lc-switch'));
    const disabled = await h.api('POST', `/api/workflows/${created.id}/disable`);
    expect(disabled.status, JSON.stringify(disabled.body)).toBe(200);
    expect(disabled.body).toMatchObject({ id: created.id, enabled: false, version: 2, definition: { enabled: false, key: 'lc-switch' } });
    const again = await h.api('POST', '/api/workflows/lc-switch/disable');
    expect(again.body).toMatchObject({ enabled: false, version: 2 });

    const refused = await h.api('POST', '/api/workflows/lc-switch/execute', { triggerData: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('definition_disabled');
    expect((await h.api('GET', '/api/workflows?category=lifecycle&enabled=false&q=lc-switch')).body.total).toBe(1);

    const enabled = await h.api('POST', '/api/workflows/lc-switch/enable');
    expect(enabled.body).toMatchObject({ enabled: true, version: 3, definition: { enabled: true } });
    expect((await h.api('POST', '/api/workflows/lc-switch/enable')).body).toMatchObject({ enabled: true, version: 3 });
    expect((await h.api('GET', '/api/workflows/lc-switch')).body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
    await start('lc-switch');
  });

  it('remove the schedule of a disabled definition and bring it back on enable', async () => {
    await create(nightly('lc-cron'));
    expect(await hasSchedule('lc-cron')).toBe(true);
    const disabled = await h.api('POST', '/api/workflows/lc-cron/disable');
    expect(disabled.body.schedule).toEqual({ id: 'definition-lc-cron', sync: 'deleted' });
    expect(await hasSchedule('lc-cron')).toBe(false);
    const enabled = await h.api('POST', '/api/workflows/lc-cron/enable');
    expect(enabled.body.schedule).toEqual({ id: 'definition-lc-cron', sync: 'created' });
    expect(await hasSchedule('lc-cron')).toBe(true);
    await h.api('DELETE', '/api/workflows/lc-cron');
  });

  it('answer 404 for an unknown definition', async () => {
    for (const action of ['enable', 'disable']) {
      const res = await h.api('POST', `/api/workflows/no-such-definition/${action}`);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
  });
});
