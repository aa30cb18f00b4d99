/**
 * No definition can take the worker down: every expression of the hostile
 * corpus runs in a real run on the dev server (or is refused at save), and
 * after each an ordinary run completes on the same worker within seconds.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { createHarness, eventually, type Harness } from '../support/harness';
import { EXPRESSION_EVALUATIONS_HELD } from '../../activities/expressions';
import { HOSTILE, type HostileExpression, inRun, matchesResult } from '../support/hostile-expressions';
import { InterpreterWorker } from '../../src/worker/create-worker';

let h: Harness;
let serial = 0;
const ORDINARY = 'ordinary-run';
const RECURSION = '($f := function($x){ $f($x) }; $f(1))';

beforeAll(async () => {
  h = await createHarness();
  const created = await h.api('POST', '/api/workflows', {
    key: ORDINARY,
    name: 'Ordinary',
    steps: [
      { id: 'greet', type: 'set', values: { greeting: 'Hello {{ input.name }}', total: '{{ $sum(input.items) }}' } },
      { id: 'check', type: 'condition', condition: 'vars.total > 2', then: [{ id: 'big', type: 'set', values: { big: true } }] },
    ],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
});

afterAll(async () => {
  await h?.close();
});

/** Saves a definition whose one step evaluates `expression`. */
async function saveHostile(expression: string) {
  const key = `hostile-${++serial}`;
  const created = await h.api('POST', '/api/workflows', { key, name: key, steps: [{ id: 'hostile', type: 'set', values: { x: `{{ ${expression} }}` } }] });
  return { key, created };
}

async function start(key: string, triggerData: Record<string, unknown> = {}) {
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { executionId: started.body.executionId as string, handle: h.client.workflow.getHandle(started.body.workflowId) };
}

/** An ordinary run, which must end SUCCESS within `withinMs` of its start. */
async function ordinaryRun(withinMs = 15_000) {
  const { handle } = await start(ORDINARY, { name: 'Ada', items: [1, 2, 3] });
  const result = await Promise.race([
    handle.result(),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`the ordinary run did not end within ${withinMs} ms`)), withinMs)),
  ]);
  expect(result).toMatchObject({ status: 'SUCCESS', vars: { greeting: 'Hello Ada', total: 6, big: true } });
}

/** The ApplicationFailure at the root of a failed run. */
async function rootFailure(handle: Awaited<ReturnType<typeof start>>['handle']): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  while (cause instanceof ApplicationFailure && cause.cause instanceof ApplicationFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

async function settledRow(executionId: string) {
  return eventually(async () => {
    const row = await findExecution(h.db, executionId);
    return row && row.status !== 'RUNNING' && row.status !== 'PENDING' ? row : undefined;
  }, undefined, `the mirror row of ${executionId} to settle`);
}

async function runEntry(saved: HostileExpression) {
  // A run evaluates again, in an activity, what the workflow thread's step budgets stop.
  const entry = { ...saved, ...inRun(saved) };
  const { key, created } = await saveHostile(entry.expression);
  if (entry.outcome === 'refused') {
    expect(created.status, JSON.stringify(created.body)).toBe(400);
    expect(created.body.code).toBe('invalid_definition');
    expect(created.body.errors.map((e: { message: string }) => e.message).join('\n')).toMatch(new RegExp(entry.error!));
    return;
  }
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const { executionId, handle } = await start(key);
  if (entry.outcome === 'fails') {
    const failure = await rootFailure(handle);
    expect(failure.type).toBe('ExpressionFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/step "hostile"/);
    expect(failure.message).toMatch(new RegExp(entry.error!));
    const row = await settledRow(executionId);
    expect(row.status).toBe('FAILED');
    expect(row.error).toMatch(new RegExp(entry.error!));
  } else {
    const result = (await handle.result()) as { status: string; vars: Record<string, unknown> };
    expect(result.status).toBe('SUCCESS');
    expect(matchesResult(result.vars.x, entry.result), `${entry.expression} gave ${JSON.stringify(result.vars.x)?.slice(0, 200)}`).toBe(true);
  }
}

describe('the hostile corpus on a real worker', () => {
  // An entry's run takes about what its evaluation outside the workflow thread takes: twice its CPU
  // time, as the expression process runs at most half a core. Most end within a second or two; the
  // two that spend the whole 3 s of CPU ($string and $pad many times) take about 7 s, and a minute
  // when other processes keep both cores busy, where that process's low priority lets them go first.
  it.each(HOSTILE.map((e) => [e.name, e] as const))(
    '%s, then an ordinary run',
    async (_name, entry) => {
      await runEntry(entry);
      await ordinaryRun();
    },
    150_000,
  );

  it('runs workflow code with no SDK deadline, whose firing mid-microtask would abort the process', () => {
    // InterpreterWorker asks the SDK for no deadline (test/unit/interpreter-worker.test.ts).
    expect(h.worker()).toBeInstanceOf(InterpreterWorker);
  });

  it('left no prototype polluted and the worker running', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(h.workerState()).toBe('RUNNING');
  });
});

describe('a poison-pill run fails alone', () => {
  it('fails the recursion with its limit named while 20 ordinary runs beside it succeed', async () => {
    const { key } = await saveHostile(RECURSION);
    const hostile = await start(key);
    const ordinary = await Promise.all(Array.from({ length: 20 }, () => start(ORDINARY, { name: 'Ada', items: [1, 2, 3] })));
    const results = await Promise.all(ordinary.map(({ handle }) => handle.result()));
    expect(results.map((r) => (r as { status: string }).status)).toEqual(Array(20).fill('SUCCESS'));
    const failure = await rootFailure(hostile.handle);
    const limit = /more than 300000 evaluation steps \(the limit of an expression evaluated outside the workflow thread\)/;
    expect(failure.message).toMatch(limit);
    expect((await settledRow(hostile.executionId)).error).toMatch(limit);
    expect(h.workerState()).toBe('RUNNING');
  });

  it(`five hostile runs at once each fail naming their limit: the worker holds ${EXPRESSION_EVALUATIONS_HELD} evaluations and has the others tried again`, async () => {
    const { key } = await saveHostile(RECURSION);
    const hostile = await Promise.all(Array.from({ length: 5 }, () => start(key)));
    const limit = /more than 300000 evaluation steps \(the limit of an expression evaluated outside the workflow thread\)/;
    for (const { handle } of hostile) expect((await rootFailure(handle)).message).toMatch(limit);
    // The last attempt of each evaluation, with the failure of the one before it (a refusal, where there was one).
    const lastAttempts = await Promise.all(
      hostile.map(async ({ handle }) => (await handle.fetchHistory()).events!.find((e) => e.activityTaskStartedEventAttributes)!.activityTaskStartedEventAttributes!),
    );
    const refused = lastAttempts.filter((a) => (a.attempt ?? 1) > 1);
    expect(refused.length).toBeGreaterThan(0);
    for (const attempt of refused) expect(attempt.lastFailure?.applicationFailureInfo?.type).toBe('ExpressionsBusy');
    await ordinaryRun();
  }, 120_000);

  it('a worker that starts with hostile runs open stays up and serves the rest', async () => {
    await h.stopWorker();
    const keys = await Promise.all(
      ['($f := function($x){ 1 + $f($x) }; $f(1))', RECURSION, '$reduce([1..40], function($acc, $v){ $acc & $acc }, "ab")'].map(async (e) => (await saveHostile(e)).key),
    );
    const hostile = await Promise.all(keys.map((key) => start(key)));
    const ordinary = await Promise.all(Array.from({ length: 5 }, () => start(ORDINARY, { name: 'Ada', items: [1, 2, 3] })));
    await h.startWorker();
    const results = await Promise.all(ordinary.map(({ handle }) => handle.result()));
    expect(results.map((r) => (r as { status: string }).status)).toEqual(Array(5).fill('SUCCESS'));
    for (const { executionId } of hostile) expect((await settledRow(executionId)).status).toBe('FAILED');
    expect(h.workerState()).toBe('RUNNING');
  });
});

describe('an ordinary expression past the workflow thread’s budgets', () => {
  const TOTALS = 'input.items.(qty * price)';
  /** The markers a run's history records (patches and local activities): name, and the text of their details. */
  async function markers(workflowId: string): Promise<{ name: string; details: string }[]> {
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).flatMap((e) => {
      const marker = e.markerRecordedEventAttributes;
      if (!marker?.markerName) return [];
      const payloads = Object.values(marker.details ?? {}).flatMap((p) => p.payloads ?? []);
      return [{ name: marker.markerName, details: payloads.map((p) => Buffer.from(p.data ?? []).toString('utf8')).join(' ') }];
    });
  }

  it.each([1_000, 10_000])('computes %d line totals in an activity, not a local one, and records its result', async (count) => {
    const { key, created } = await saveHostile(TOTALS);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const items = Array.from({ length: count }, (_, i) => ({ qty: (i % 5) + 1, price: 2 }));
    const { handle } = await start(key, { items });
    const result = (await handle.result()) as { status: string; vars: { x: number[] } };
    expect(result.status).toBe('SUCCESS');
    expect(result.vars.x).toEqual(items.map((i) => i.qty * i.price));
    const recorded = await markers(handle.workflowId);
    expect(recorded.some((m) => m.name === 'core_local_activity' && m.details.includes('evaluateExpression'))).toBe(false);
    expect(recorded.some((m) => m.name === 'core_patch' && m.details.includes('expressions-outside-workflow-2026-12'))).toBe(true);
    expect(recorded.some((m) => m.name === 'core_patch' && m.details.includes('expressions-as-activity-2026-12'))).toBe(true);
    // Scheduled as the workflow task that stopped at the budget completed: the task's slot was free while it ran.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'evaluateExpression');
    expect(scheduled).toHaveLength(1);
    expect(events.filter((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled[0]!.eventId?.toString())).toHaveLength(1);
  }, 60_000);

  it('records nothing more for a run whose expressions fit in the workflow thread', async () => {
    const { key } = await saveHostile(TOTALS);
    const { handle } = await start(key, { items: [{ qty: 2, price: 3 }] });
    expect(((await handle.result()) as { vars: { x: unknown } }).vars.x).toBe(6);
    const recorded = await markers(handle.workflowId);
    expect(recorded.some((m) => m.details.includes('expressions-outside-workflow') || m.details.includes('evaluateExpression'))).toBe(false);
  });
});
