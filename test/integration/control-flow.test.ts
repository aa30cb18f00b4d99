/**
 * The control-flow steps and run controls on the real dev server: switch,
 * parallel, fail, succeed, onError, wait_for_signal with the signal route,
 * cancel and terminate, and input schemas checked before a run starts.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
let serial = 0;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

async function start(steps: unknown[], triggerData: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const key = `flow-${++serial}`;
  const def = await h.api('POST', '/api/workflows', { key, name: key, steps, ...extra });
  expect(def.status, JSON.stringify(def.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { ...started.body, handle: h.client.workflow.getHandle(started.body.workflowId) } as {
    executionId: string;
    workflowId: string;
    handle: ReturnType<Harness['client']['workflow']['getHandle']>;
  };
}

async function waitingAt(executionId: string, step: string) {
  return eventually(async () => ((await findExecution(h.db, executionId))?.current_step === step ? true : undefined), undefined, `step ${step}`);
}

describe('branching and structure', () => {
  it('switch runs the matching case, or the default', async () => {
    const steps = [
      {
        id: 'route',
        type: 'switch',
        value: 'input.tier',
        cases: [
          { equals: 'gold', steps: [{ id: 'gold', type: 'set', values: { lane: 'priority' } }] },
          { equals: 'silver', steps: [{ id: 'silver', type: 'set', values: { lane: 'fast' } }] },
        ],
        default: [{ id: 'other', type: 'set', values: { lane: 'normal' } }],
      },
    ];
    const silver = await start(steps, { tier: 'silver' });
    expect((await silver.handle.result()).vars).toEqual({ lane: 'fast' });
    const bronze = await start(steps, { tier: 'bronze' });
    expect((await bronze.handle.result()).vars).toEqual({ lane: 'normal' });
  });

  it('parallel runs every branch, or takes the first and cancels the rest', async () => {
    const all = await start([
      {
        id: 'both',
        type: 'parallel',
        branches: [
          [{ id: 'a1', type: 'delay', duration: '200ms' }, { id: 'a2', type: 'set', values: { a: 1 } }],
          [{ id: 'b1', type: 'set', values: { b: 2 } }],
        ],
      },
    ]);
    expect((await all.handle.result()).vars).toEqual({ a: 1, b: 2 });

    const first = await start([
      {
        id: 'race',
        type: 'parallel',
        mode: 'first',
        branches: [
          [{ id: 'slow', type: 'delay', duration: '1h' }, { id: 'late', type: 'set', values: { winner: 'slow' } }],
          [{ id: 'fast', type: 'set', values: { winner: 'fast' } }],
        ],
      },
    ]);
    const result = await first.handle.result();
    expect(result.vars).toEqual({ winner: 'fast' });
  });

  it('fail ends the run FAILED with its message; succeed ends it early with an output', async () => {
    const failing = await start([{ id: 'stop', type: 'fail', message: 'order {{ input.id }} is not payable' }], { id: 'A1' });
    const err = await failing.handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const row = await findExecution(h.db, failing.executionId);
    expect(row).toMatchObject({ status: 'FAILED', error: 'step "stop" (fail): order A1 is not payable' });

    const early = await start([
      { id: 'done', type: 'succeed', output: { total: '{{ input.n * 2 }}' } },
      { id: 'never', type: 'set', values: { reached: true } },
    ], { n: 21 });
    const result = await early.handle.result();
    expect(result.output).toEqual({ total: 42 });
    expect(result.vars).toEqual({});
    expect((await findExecution(h.db, early.executionId))?.status).toBe('SUCCESS');
  });

  it('onError: continue goes on; compensate runs its steps and then fails the run', async () => {
    const cont = await start([
      { id: 'broken', type: 'fail', message: 'boom', onError: 'continue' },
      { id: 'after', type: 'set', values: { status: '{{ steps.broken.status }}' } },
    ]);
    expect((await cont.handle.result()).vars).toEqual({ status: 'FAILED' });

    const comp = await start([
      { id: 'charge', type: 'set', values: { charged: true } },
      {
        id: 'ship',
        type: 'fail',
        message: 'no stock',
        onError: { compensate: [{ id: 'refund', type: 'set', values: { refunded: true } }] },
      },
    ]);
    await expect(comp.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const state = await comp.handle.query<{ vars: Record<string, unknown> }>('state');
    expect(state.vars).toEqual({ charged: true, refunded: true });
  });
});

describe('delays', () => {
  it('waits until a moment computed from the trigger data, and not at all for one already past', async () => {
    const steps = [{ id: 'due', type: 'delay', until: 'input.at' }];
    // Far enough ahead to be still ahead when the run reaches the step (saving and starting take
    // well under a second even on a loaded machine), or there would be no timer to see.
    const at = new Date(Date.now() + 5_000).toISOString();
    const future = await start(steps, { at });
    await future.handle.result();
    const row = await findExecution(h.db, future.executionId);
    expect(row?.finished_at?.getTime()).toBeGreaterThanOrEqual(Date.parse(at));
    const timers = (await future.handle.fetchHistory()).events?.filter((e) => e.timerStartedEventAttributes) ?? [];
    expect(timers).toHaveLength(1);

    const past = await start(steps, { at: '2020-01-01T00:00:00Z' });
    await past.handle.result();
    expect((await past.handle.fetchHistory()).events?.filter((e) => e.timerStartedEventAttributes)).toHaveLength(0);

    const bad = await start(steps, { at: 'next tuesday' });
    await expect(bad.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await findExecution(h.db, bad.executionId))?.error).toMatch(/until must give an ISO 8601 time/);
  });
});

describe('waiting for people and events', () => {
  const approvalSteps = [
    { id: 'ask', type: 'wait_for_signal', signal: 'approval', timeout: '1h' },
    {
      id: 'decide',
      type: 'condition',
      condition: 'steps.ask.output.data.approved = true',
      then: [{ id: 'yes', type: 'set', values: { outcome: 'approved by {{ steps.ask.output.by }}' } }],
      else: [{ id: 'no', type: 'set', values: { outcome: 'rejected' } }],
    },
  ];

  it('resumes when the signal arrives over HTTP, with its payload available to later steps', async () => {
    const run = await start(approvalSteps);
    await waitingAt(run.executionId, 'ask');
    const live = await h.api('GET', `/api/executions/${run.executionId}`);
    expect(live.body.live.waitingFor).toEqual(['approval']);

    const wrong = await h.api('POST', `/api/executions/${run.executionId}/signal`, { signal: 'payment' });
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ code: 'not_waiting', detail: expect.stringMatching(/no step is waiting for "payment"; waiting for: approval/) });
    const malformed = await h.api('POST', `/api/executions/${run.executionId}/signal`, { signal: 'approval', data: [1] });
    expect(malformed.status).toBe(400);

    const ok = await h.api('POST', `/api/executions/${run.executionId}/signal`, { signal: 'approval', data: { approved: true }, by: 'grace' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ accepted: true, stepPath: 'ask' });
    expect((await run.handle.result()).vars).toEqual({ outcome: 'approved by grace' });

    const after = await h.api('POST', `/api/executions/${run.executionId}/signal`, { signal: 'approval' });
    expect(after.status).toBe(409);
    expect(after.body.code).toBe('execution_closed');
  });

  it('runs onTimeout when nobody answers in time', async () => {
    const run = await start([
      {
        id: 'ask',
        type: 'wait_for_signal',
        signal: 'approval',
        timeout: '300ms',
        onTimeout: [{ id: 'escalate', type: 'set', values: { escalated: true } }],
      },
    ]);
    const result = await run.handle.result();
    expect(result.vars).toEqual({ escalated: true });
    const state = await run.handle.query<{ steps: { id: string; output?: unknown }[] }>('state');
    expect(state.steps.find((s) => s.id === 'ask')?.output).toEqual({ timedOut: true });
  });

  it('cancels and terminates over HTTP', async () => {
    const cancelled = await start(approvalSteps);
    await waitingAt(cancelled.executionId, 'ask');
    const cancel = await h.api('POST', `/api/executions/${cancelled.executionId}/cancel`);
    expect(cancel.status).toBe(202);
    await eventually(async () => ((await findExecution(h.db, cancelled.executionId))?.status === 'CANCELLED' ? true : undefined));

    const terminated = await start(approvalSteps);
    await waitingAt(terminated.executionId, 'ask');
    const noReason = await h.api('POST', `/api/executions/${terminated.executionId}/terminate`, {});
    expect(noReason.status).toBe(400);
    const term = await h.api('POST', `/api/executions/${terminated.executionId}/terminate`, { reason: 'duplicate order' });
    expect(term.status).toBe(200);
    const row = await findExecution(h.db, terminated.executionId);
    expect(row?.status).toBe('TERMINATED');
    expect(row?.error).toMatch(/duplicate order/);
    expect((await terminated.handle.describe()).status.name).toBe('TERMINATED');
  });
});

describe('input schemas', () => {
  const inputSchema = {
    type: 'object',
    required: ['email', 'items'],
    properties: {
      email: { type: 'string', pattern: '^[^@]+@[^@]+$' },
      items: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' } } } },
    },
  };

  it('refuses trigger data that does not match, naming each field, and starts nothing', async () => {
    const key = 'with-schema';
    expect((await h.api('POST', '/api/workflows', { key, name: key, inputSchema, steps: [{ id: 's', type: 'set', values: { a: 1 } }] })).status).toBe(201);
    const bad = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData: { email: 'nope', items: [{}] } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['$.body.triggerData.email', '$.body.triggerData.items[0].sku']);
    // The detail names the fields as the errors do, rooted at the request.
    expect(bad.body.detail).toContain('$.body.triggerData.items[0].sku is required');
    expect(bad.body.detail).not.toMatch(/(^|[^.\w])\$\.(email|items)/);
    const rows = await h.db.selectFrom('workflow_executions').selectAll().where('definition_id', '=', (await h.api('GET', `/api/workflows/${key}`)).body.id).execute();
    expect(rows).toEqual([]);
    const good = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData: { email: 'a@b.c', items: [{ sku: 'X' }] } });
    expect(good.status).toBe(202);
  });

  it('names fields of a definition by JSON path everywhere, and says a condition takes no {{ }}', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: 'paths-one-style',
      name: 'Paths',
      steps: [
        { id: 'twice', type: 'set', values: { a: 1 } },
        { id: 'big', type: 'condition', condition: '{{ input.total > 100 }}', then: [{ id: 'twice', type: 'set', values: { b: 2 } }] },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: '$.steps[1].condition', message: 'takes a bare expression, without {{ }}: write "input.total > 100", not "{{ input.total > 100 }}"' },
      { path: '$.steps[1].then[0].id', message: 'duplicate step id "twice" (also at $.steps[0])' },
    ]);
    expect(res.body.detail).toContain('$.steps[1].then[0].id duplicate step id "twice" (also at $.steps[0])');
  });

  it('refuses a definition whose input schema is not a valid JSON Schema', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: 'bad-schema',
      name: 'Bad schema',
      inputSchema: { type: 'nonsense' },
      steps: [{ id: 's', type: 'set', values: { a: 1 } }],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('$.inputSchema');
  });
});
