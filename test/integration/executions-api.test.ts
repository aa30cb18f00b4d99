/**
 * Reading runs: the filtered, cursor-paginated list from the mirror (and that
 * its queries are served by the mirror's indexes), a run's step log, and its
 * Temporal history summarized without payloads.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionListQuery, type ExecutionFilter } from '../../db/executions';
import { decodeCursor, encodeCursor } from '../../src/gateway/routes/executions';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;

interface Def {
  id: string;
  key: string;
}
let defA: Def;
let defB: Def;

/** Every seeded row, as the list must order them: started_at desc, id desc. */
let seeded: { id: string; status: string; definition: string; startedAt: string; category: string; template: string | null }[] = [];

const BASE = Date.parse('2026-11-20T12:00:00Z');
const STATUSES = ['SUCCESS', 'FAILED', 'RUNNING', 'CANCELLED', 'SUCCESS', 'TIMED_OUT', 'FAILED'] as const;

async function createDefinition(body: Record<string, unknown>): Promise<Def> {
  const res = await h.api('POST', '/api/workflows', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function seed(def: Def, startedAt: string, status: string, category: string, template: string | null) {
  const id = randomUUID();
  await h.db
    .insertInto('workflow_executions')
    .values({
      id,
      definition_id: def.id,
      definition_version: 1,
      workflow_id: `${def.key}-${id}`,
      run_id: null,
      status,
      trigger_type: 'manual',
      trigger_data: '{}',
      template_key: template,
      category,
      current_step: null,
      error: null,
      // As text, so microseconds survive.
      started_at: sql<Date>`${startedAt}::timestamptz`,
      finished_at: null,
      duration_ms: null,
    })
    .execute();
  seeded.push({ id, status, definition: def.key, startedAt, category, template });
}

/** ids in list order: the database's own ordering of the microsecond timestamps, then ids. */
async function expectedIds(where: (row: (typeof seeded)[number]) => boolean): Promise<string[]> {
  const ids = seeded.filter(where).map((r) => r.id);
  if (ids.length === 0) return [];
  const rows = await h.db
    .selectFrom('workflow_executions')
    .select('id')
    .where('id', 'in', ids)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map((r) => r.id);
}

/** Follows nextCursor to the end; answers every id in order and the number of pages. */
async function pageThrough(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = query ? '&' : '';
    const res = await h.api('GET', `/api/executions?${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.items.map((i: { id: string }) => i.id));
    cursor = res.body.nextCursor;
    pages += 1;
    if (pages > 100) throw new Error('pagination does not end');
  } while (cursor);
  return { ids, pages };
}

beforeAll(async () => {
  h = await createHarness();
  const steps = [{ id: 'only', type: 'set', values: { x: 1 } }];
  defA = await createDefinition({ key: 'list-a', name: 'List A', category: 'billing', templateKey: 'tpl-a', steps });
  defB = await createDefinition({ key: 'list-b', name: 'List B', category: 'ops', steps });

  seeded = [];
  for (let i = 0; i < 21; i++) {
    const def = i % 3 === 0 ? defB : defA;
    const at = new Date(BASE - i * 60_000).toISOString();
    await seed(def, at, STATUSES[i % STATUSES.length]!, def === defB ? 'ops' : 'billing', def === defB ? null : 'tpl-a');
  }
  // Ties: three runs started at the same instant (ordered by id), and two a microsecond apart.
  const tie = new Date(BASE - 5.5 * 60_000).toISOString();
  for (let i = 0; i < 3; i++) await seed(defA, tie, 'FAILED', 'billing', 'tpl-a');
  await seed(defB, '2026-11-20T11:50:30.000001Z', 'SUCCESS', 'ops', null);
  await seed(defB, '2026-11-20T11:50:30.000002Z', 'FAILED', 'ops', null);
});

afterAll(async () => {
  await h?.close();
});

describe('GET /api/executions', () => {
  it('lists newest first and pages with an opaque cursor through every row exactly once', async () => {
    const first = await h.api('GET', '/api/executions?limit=4');
    expect(first.status).toBe(200);
    expect(Object.keys(first.body).sort()).toEqual(['items', 'nextCursor']);
    expect(first.body.items[0]).toMatchObject({ id: expect.any(String), status: expect.any(String), startedAt: expect.any(String) });
    expect(first.body.items[0]).not.toHaveProperty('triggerData');
    expect(first.body.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);

    const all = await expectedIds(() => true);
    expect(all).toHaveLength(26);
    for (const limit of [1, 4, 7, 26, 200]) {
      const { ids, pages } = await pageThrough('', limit);
      expect(ids, `limit ${limit}`).toEqual(all);
      // One row more than the page is read, so an exact fit needs no empty last page.
      expect(pages).toBe(Math.ceil(all.length / limit));
    }
  });

  it('defaults to 50 a page and says when there is no next page', async () => {
    const res = await h.api('GET', '/api/executions');
    expect(res.body.items).toHaveLength(26);
    expect(res.body.nextCursor).toBeNull();
  });

  it('keeps microseconds in the cursor, so runs within one millisecond are neither lost nor repeated', async () => {
    const { ids } = await pageThrough('definition=list-b', 1);
    expect(ids).toEqual(await expectedIds((r) => r.definition === 'list-b'));
    const cursor = decodeCursor((await h.api('GET', '/api/executions?definition=list-b&limit=1')).body.nextCursor);
    expect(cursor?.startedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  });

  it('filters by status, one or several, across pages', async () => {
    const failed = await pageThrough('status=FAILED', 2);
    expect(failed.ids).toEqual(await expectedIds((r) => r.status === 'FAILED'));
    const several = await pageThrough('status=FAILED,success,TIMED_OUT', 3);
    expect(several.ids).toEqual(await expectedIds((r) => ['FAILED', 'SUCCESS', 'TIMED_OUT'].includes(r.status)));
    const repeated = await pageThrough('status=FAILED&status=CANCELLED', 2);
    expect(repeated.ids).toEqual(await expectedIds((r) => ['FAILED', 'CANCELLED'].includes(r.status)));
    expect((await pageThrough('status=PENDING', 5)).ids).toEqual([]);
  });

  it('filters by definition id or key, template, category, and time', async () => {
    const byKey = await pageThrough('definition=list-a', 5);
    expect(byKey.ids).toEqual(await expectedIds((r) => r.definition === 'list-a'));
    expect((await pageThrough(`definition=${defA.id}`, 5)).ids).toEqual(byKey.ids);
    expect((await pageThrough('definition=no-such-definition', 5)).ids).toEqual([]);
    expect((await pageThrough('definition=3f1b0f8e-0000-4000-8000-000000000000', 5)).ids).toEqual([]);

    expect((await pageThrough('template=tpl-a', 4)).ids).toEqual(await expectedIds((r) => r.template === 'tpl-a'));
    expect((await pageThrough('category=ops', 4)).ids).toEqual(await expectedIds((r) => r.category === 'ops'));

    // from is inclusive, to exclusive.
    const from = new Date(BASE - 10 * 60_000).toISOString();
    const to = new Date(BASE - 2 * 60_000).toISOString();
    const window = await pageThrough(`from=${from}&to=${to}`, 3);
    const inWindow = (r: (typeof seeded)[number]) => Date.parse(r.startedAt) >= Date.parse(from) && Date.parse(r.startedAt) < Date.parse(to);
    expect(window.ids).toEqual(await expectedIds(inWindow));
    expect(window.ids).toContain(seeded.find((r) => r.startedAt === from)!.id);
    expect(window.ids).not.toContain(seeded.find((r) => r.startedAt === to)!.id);
    // A zone offset means the same instant.
    const shifted = await pageThrough(`from=${encodeURIComponent(from.replace('Z', '+00:00'))}&to=${to}`, 50);
    expect(shifted.ids).toEqual(window.ids);

    const combined = await pageThrough(`definition=list-a&status=FAILED,SUCCESS&from=${from}`, 2);
    expect(combined.ids).toEqual(
      await expectedIds((r) => r.definition === 'list-a' && ['FAILED', 'SUCCESS'].includes(r.status) && Date.parse(r.startedAt) >= Date.parse(from)),
    );
  });

  it.each([
    ['an unknown status', 'status=DONE', '$.query.status'],
    ['one bad status among good ones', 'status=FAILED,nope', '$.query.status'],
    ['an empty status', 'status=', '$.query.status'],
    ['a limit of 0', 'limit=0', '$.query.limit'],
    ['a limit over 200', 'limit=201', '$.query.limit'],
    ['a limit that is not a number', 'limit=ten', '$.query.limit'],
    ['a time that is not ISO 8601', 'from=yesterday', '$.query.from'],
    ['a time without a zone', 'to=2026-11-20T12:00:00', '$.query.to'],
    ['a window that ends before it starts', 'from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z', '$.query.to'],
    ['a cursor that is not base64url', 'cursor=not*a*cursor', '$.query.cursor'],
    ['a cursor this API did not make', `cursor=${Buffer.from('hello,world').toString('base64url')}`, '$.query.cursor'],
    [
      'a cursor with an impossible date',
      `cursor=${encodeCursor({ startedAt: '2026-02-30T00:00:00.000000Z', id: '3f1b0f8e-0000-4000-8000-000000000000' })}`,
      '$.query.cursor',
    ],
    ['an empty definition', 'definition=', '$.query.definition'],
    ['a parameter it does not know', 'sort=asc', '$.query'],
  ])('answers 400 naming the field for %s', async (_name, query, path) => {
    const res = await h.api('GET', `/api/executions?${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(res.body.detail).toContain(path);
  });

  it('is served by the mirror indexes, not by reading the whole table', async () => {
    const bulk = await createDefinition({ key: 'list-bulk', name: 'Bulk', category: 'bulk', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
    const cursor = { startedAt: '2026-11-20T11:55:00.000000Z', id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' };
    const plans: Record<string, string> = {};
    // The bulk rows live only inside this transaction, with statistics that describe them.
    await h.db
      .transaction()
      .execute(async (trx) => {
        await sql`
          insert into workflow_executions (id, definition_id, definition_version, workflow_id, status, trigger_type, category, started_at)
          select gen_random_uuid(), ${bulk.id}::uuid, 1, 'bulk-' || g,
                 case when g % 100 = 0 then 'FAILED' when g % 250 = 1 then 'CANCELLED' else 'SUCCESS' end,
                 'manual', 'bulk', timestamptz '2026-11-20T12:00:00Z' - g * interval '1 second'
          from generate_series(1, 20000) g`.execute(trx);
        await sql`analyze workflow_executions`.execute(trx);
        const cases: Record<string, ExecutionFilter> = {
          'no filter': { limit: 50 },
          'no filter, next page': { limit: 50, after: cursor },
          'one status': { limit: 50, statuses: ['FAILED'] },
          'one status, next page': { limit: 50, statuses: ['FAILED'], after: cursor },
          'several statuses': { limit: 50, statuses: ['FAILED', 'CANCELLED'] },
          'several statuses, next page': { limit: 50, statuses: ['FAILED', 'CANCELLED'], after: cursor },
          definition: { limit: 50, definitionId: defA.id },
          'definition, next page': { limit: 50, definitionId: defA.id, after: cursor },
        };
        for (const [name, filter] of Object.entries(cases)) {
          const compiled = executionListQuery(trx, filter).compile();
          const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]));
          plans[name] = result.rows.map((r) => r['QUERY PLAN']).join('\n');
        }
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });

    const expectIndex = (name: string, index: string) => {
      expect(plans[name], `${name}:\n${plans[name]}`).toContain(index);
      expect(plans[name], `${name}:\n${plans[name]}`).not.toMatch(/Seq Scan on workflow_executions/);
    };
    expectIndex('no filter', 'idx_execution_started_at');
    expectIndex('no filter, next page', 'idx_execution_started_at');
    expectIndex('one status', 'idx_execution_status');
    expectIndex('one status, next page', 'idx_execution_status');
    expectIndex('several statuses', 'idx_execution_status');
    expectIndex('several statuses, next page', 'idx_execution_status');
    expectIndex('definition', 'idx_execution_workflow_id');
    expectIndex('definition, next page', 'idx_execution_workflow_id');
    // One branch per status, each cut at the page size.
    expect(plans['several statuses']!.match(/idx_execution_status/g)).toHaveLength(2);
    expect(await h.db.selectFrom('workflow_executions').select(h.db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({ n: 26 });
  });
});

class Rollback extends Error {}

describe('GET /api/executions/:id/logs and /history', () => {
  let failedRun: { executionId: string; workflowId: string; runId: string };
  const marker = 'ada.private.marker@example.test';

  beforeAll(async () => {
    // No SMTP here: the email step fails at once (ChannelNotConfigured), after a timer.
    await createDefinition({
      key: 'history-run',
      name: 'History run',
      category: 'tests',
      steps: [
        { id: 'prep', type: 'set', values: { who: '{{ input.email }}' } },
        { id: 'pause', type: 'delay', duration: '100ms', name: 'short pause' },
        { id: 'mail', type: 'email', to: '{{ input.email }}', subject: 'Hi', text: 'Hello {{ input.secretNote }}', name: 'welcome mail' },
      ],
    });
    const started = await h.api('POST', '/api/workflows/history-run/execute', { triggerData: { email: marker, secretNote: marker } });
    expect(started.status).toBe(202);
    failedRun = started.body;
    await expect(h.client.workflow.getHandle(failedRun.workflowId).result()).rejects.toBeInstanceOf(WorkflowFailedError);
  });

  it('answers the step log rows of a run, by execution id or workflow id', async () => {
    const res = await h.api('GET', `/api/executions/${failedRun.executionId}/logs`);
    expect(res.status).toBe(200);
    expect(res.body.executionId).toBe(failedRun.executionId);
    const events = res.body.items.map((i: { stepId: string; event: string }) => `${i.stepId}:${i.event}`);
    expect(events).toEqual(expect.arrayContaining(['prep:STARTED', 'prep:COMPLETED', 'pause:COMPLETED', 'mail:STARTED', 'mail:FAILED']));
    expect(Object.keys(res.body.items[0]).sort()).toEqual(
      ['attempt', 'error', 'event', 'message', 'output', 'stepId', 'stepPath', 'stepType', 'timestamp'].sort(),
    );
    const mailFailed = res.body.items.find((i: { stepId: string; event: string }) => i.stepId === 'mail' && i.event === 'FAILED');
    expect(mailFailed.error).toMatch(/email is not configured/);

    const byWorkflowId = await h.api('GET', `/api/executions/${failedRun.workflowId}/logs`);
    expect(byWorkflowId.body.items).toEqual(res.body.items);
    expect((await h.api('GET', '/api/executions/3f1b0f8e-0000-4000-8000-000000000000/logs')).body.code).toBe('not_found');
  });

  it('summarizes the Temporal history: one entry per event, activity and timer details, no payloads', async () => {
    const res = await h.api('GET', `/api/executions/${failedRun.executionId}/history`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ executionId: failedRun.executionId, workflowId: failedRun.workflowId, runId: failedRun.runId });
    const events: { eventId: number; type: string; time: string; activityType?: string; summary?: string; attempt?: number; failure?: string; timerId?: string }[] =
      res.body.events;

    const full = await h.client.workflow.getHandle(failedRun.workflowId, failedRun.runId).fetchHistory();
    expect(events.map((e) => e.eventId)).toEqual(full.events!.map((e) => Number(e.eventId)));
    expect(events[0]).toMatchObject({ eventId: 1, type: 'WorkflowExecutionStarted', summary: 'History run (v1)' });
    expect(events.at(-1)).toMatchObject({ type: 'WorkflowExecutionFailed', failure: expect.stringMatching(/email is not configured/) });
    for (const e of events) {
      expect(e.type).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    }

    expect(events.find((e) => e.type === 'TimerStarted')).toMatchObject({ summary: 'pause: short pause', timerId: expect.any(String) });
    expect(events.find((e) => e.type === 'TimerFired')).toMatchObject({ summary: 'pause: short pause' });
    const scheduled = events.find((e) => e.type === 'ActivityTaskScheduled');
    expect(scheduled).toMatchObject({ activityType: 'sendEmail', summary: 'mail: welcome mail' });
    expect(events.find((e) => e.type === 'ActivityTaskStarted')).toMatchObject({ activityType: 'sendEmail', attempt: 1 });
    expect(events.find((e) => e.type === 'ActivityTaskFailed')).toMatchObject({
      activityType: 'sendEmail',
      summary: 'mail: welcome mail',
      attempt: 1,
      failure: expect.stringMatching(/email is not configured/),
    });

    // The trigger data went into the workflow input and the activity's arguments: neither may show.
    expect(JSON.stringify(res.body)).not.toContain(marker);
    expect(JSON.stringify(res.body)).not.toMatch(/payload|"data"|"input"/i);
  });

  it('answers 404 for an unknown execution, and for a run Temporal never saw', async () => {
    expect((await h.api('GET', '/api/executions/3f1b0f8e-0000-4000-8000-000000000000/history')).status).toBe(404);
    const id = randomUUID();
    await h.db
      .insertInto('workflow_executions')
      .values({
        id,
        definition_id: defA.id,
        definition_version: 1,
        workflow_id: `list-a-${id}`,
        run_id: null,
        status: 'FAILED',
        trigger_type: 'manual',
        trigger_data: '{}',
        template_key: null,
        category: 'billing',
        current_step: null,
        error: 'the run was never started on Temporal',
        finished_at: null,
        duration_ms: null,
      })
      .execute();
    const res = await h.api('GET', `/api/executions/${id}/history`);
    expect(res.status).toBe(404);
    expect(res.body.detail).toMatch(/never started/);
  });
});

describe('GET /api/executions/:id?wait', () => {
  /** Requests the gateway holds until a run ends, as its /metrics counts them. */
  const waitingRequests = async (): Promise<number> => {
    const res = await h.api('GET', '/metrics', undefined, {}, { key: null });
    return Number(/^gateway_requests_waiting_for_run_end (\d+)$/m.exec(res.body as string)?.[1]);
  };

  /** A run waiting at its `go` signal. */
  async function waitingRun(): Promise<{ executionId: string }> {
    const started = await h.api('POST', '/api/workflows/wait-for-end/execute', {});
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const { executionId, waitUrl } = started.body as { executionId: string; waitUrl: string };
    expect(waitUrl).toBe(`/api/executions/${executionId}?wait=30s`);
    await eventually(async () => ((await h.api('GET', `/api/executions/${executionId}`)).body.live?.waitingFor?.[0] === 'go' ? true : undefined), 30_000, 'the run to wait');
    return { executionId };
  }

  beforeAll(async () => {
    await createDefinition({
      key: 'wait-for-end',
      name: 'Waits for go',
      steps: [
        { id: 'hold', type: 'wait_for_signal', signal: 'go', timeout: '1h' },
        { id: 'after', type: 'set', values: { done: true } },
      ],
    });
  });

  it('answers an open run once it has ended, and a finished run at once', async () => {
    const { executionId } = await waitingRun();
    const answer = h.api('GET', `/api/executions/${executionId}?wait=30s`);
    await eventually(async () => ((await waitingRequests()) === 1 ? true : undefined), 30_000, 'the request to wait for the run');

    const signalled = await h.api('POST', `/api/executions/${executionId}/signal`, { signal: 'go' });
    expect(signalled.status).toBe(200);
    const ended = await answer;
    expect(ended.status, JSON.stringify(ended.body)).toBe(200);
    expect(ended.body).toMatchObject({ id: executionId, status: 'SUCCESS', currentStep: null, live: null });
    expect(ended.body.logs.map((l: { stepPath: string; event: string }) => `${l.stepPath}:${l.event}`)).toContain('after:COMPLETED');
    expect(await waitingRequests()).toBe(0);

    const again = await h.api('GET', `/api/executions/${executionId}?wait=30s`);
    expect(again.body).toMatchObject({ id: executionId, status: 'SUCCESS' });
  });

  it('answers the run as it stands, live state and all, when the wait is up', async () => {
    const { executionId } = await waitingRun();
    const res = await h.api('GET', `/api/executions/${executionId}?wait=200ms`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: executionId, status: 'RUNNING', live: { waitingFor: ['go'] } });
    expect(await waitingRequests()).toBe(0);
    await h.api('POST', `/api/executions/${executionId}/signal`, { signal: 'go' });
  });

  it.each([
    ['longer than a minute', 'wait=2m', '$.query.wait'],
    ['not a duration', 'wait=soon', '$.query.wait'],
    ['a field it does not know', 'live=false', '$.query'],
  ])('refuses a wait %s, naming the field', async (_, query, path) => {
    const res = await h.api('GET', `/api/executions/${seeded[0]!.id}?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ path })] });
  });
});
