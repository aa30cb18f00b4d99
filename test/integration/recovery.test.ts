/**
 * Admins recover failed executions two ways: replay (a new execution of the
 * same pinned version and trigger data) and reset (the same execution's
 * Temporal run redone from the failed step, earlier steps not run again).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';

let h: Harness;
let sink: HttpSink;
/** Whether the flaky endpoint fails (400: a permanent failure, not retried). */
let flakyFails: boolean;

beforeAll(async () => {
  sink = await startHttpSink();
  sink.respond = (req) => (req.path.startsWith('/flaky') && flakyFails ? { status: 400, body: { error: 'not yet' } } : { status: 200, body: { ok: true } });
  h = await createHarness({ env: { HTTP_ALLOWED_HOSTS: '127.0.0.1' } });
});

beforeEach(() => {
  sink.requests.length = 0;
  flakyFails = true;
});

afterAll(async () => {
  await h?.close();
  await sink?.close();
});

const hits = (prefix: string) => sink.requests.filter((r) => r.path.startsWith(prefix)).length;

async function settled(executionId: string) {
  return eventually(async () => {
    const res = await h.api('GET', `/api/executions/${executionId}`);
    return ['SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'].includes(res.body?.status) ? res.body : undefined;
  }, 30_000, `execution ${executionId} to settle`);
}

async function failedRun(key: string) {
  const created = await h.api('POST', '/api/workflows', {
    key,
    name: `Recovery ${key}`,
    steps: [
      { id: 'first', type: 'http', method: 'POST', url: `${sink.url}/first`, body: { order: '{{ input.order }}' } },
      { id: 'flaky', type: 'http', url: `${sink.url}/flaky`, retry: { maximumAttempts: 1 } },
      { id: 'after', type: 'set', values: { done: true } },
    ],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { order: 'A-1' } });
  expect(started.status).toBe(202);
  const row = await settled(started.body.executionId);
  expect(row.status).toBe('FAILED');
  expect(hits('/first')).toBe(1);
  return { definitionId: created.body.id as string, ...(started.body as { executionId: string; workflowId: string; runId: string }) };
}

describe('resetting a failed execution', () => {
  it('redoes the failed step and what follows in a new run of the same execution, without redoing earlier steps', async () => {
    const run = await failedRun('reset-me');
    flakyFails = false;
    const reset = await h.api('POST', `/api/executions/${run.executionId}/reset`, { reason: 'the API is back' });
    expect(reset.status, JSON.stringify(reset.body)).toBe(202);
    expect(reset.body).toMatchObject({ executionId: run.executionId, workflowId: run.workflowId, previousRunId: run.runId, resetTo: 'failed-step', redoes: 'httpRequest' });
    expect(reset.body.runId).not.toBe(run.runId);

    const row = await settled(run.executionId);
    expect(row).toMatchObject({ status: 'SUCCESS', runId: reset.body.runId, error: null });
    expect(hits('/first')).toBe(1);
    // A read: its local attempt and the ordinary activity that failed the step, then the reset's.
    expect(hits('/flaky')).toBe(3);
    const result = await h.client.workflow.getHandle(run.workflowId).result();
    expect(result.vars).toEqual({ done: true });
    // The reset is on record in Temporal, with who asked and why.
    expect(await readableHistory(h.client.workflow.getHandle(run.workflowId, reset.body.runId))).toContain('the API is back (by test harness)');
  });

  it('refuses an open execution, a succeeded one, a run that failed outside an activity, and a bad body', async () => {
    const failed = await failedRun('reset-refusals');
    expect((await h.api('POST', `/api/executions/${failed.executionId}/reset`, {})).status).toBe(400);
    expect((await h.api('POST', `/api/executions/${failed.executionId}/reset`, { reason: 'x', to: 'somewhere' })).status).toBe(400);
    expect((await h.api('POST', '/api/executions/00000000-0000-4000-8000-000000000000/reset', { reason: 'x' })).status).toBe(404);

    const created = await h.api('POST', '/api/workflows', {
      key: 'reset-expression',
      name: 'Fails in an expression',
      steps: [
        { id: 'wait', type: 'wait_for_signal', signal: 'go', timeout: '1m' },
        { id: 'boom', type: 'set', values: { x: '{{ $number("not a number") }}' } },
      ],
    });
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: {} });
    const open = await h.api('POST', `/api/executions/${started.body.executionId}/reset`, { reason: 'x' });
    expect(open.status).toBe(409);
    expect(open.body.code).toBe('execution_open');
    await eventually(async () => ((await h.api('POST', `/api/executions/${started.body.executionId}/signal`, { signal: 'go' })).status === 200 ? true : undefined));
    expect((await settled(started.body.executionId)).status).toBe('FAILED');
    const expression = await h.api('POST', `/api/executions/${started.body.executionId}/reset`, { reason: 'x' });
    expect(expression.status).toBe(409);
    expect(expression.body.code).toBe('reset_refused');
    expect(expression.body.detail).toContain('did not fail in an activity');
  });
});

describe('replaying a failed execution', () => {
  it('starts a new execution of the version the original pinned, with its trigger data, linked to it', async () => {
    const run = await failedRun('replay-me');
    // A newer version exists by now; the replay still runs the original's.
    const updated = await h.api('PUT', `/api/workflows/${run.definitionId}`, {
      key: 'replay-me',
      name: 'Recovery replay-me v2',
      steps: [{ id: 'other', type: 'set', values: { version: 2 } }],
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    flakyFails = false;

    const replay = await h.api('POST', `/api/executions/${run.executionId}/replay`, { reason: 'the API is back' });
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    expect(replay.body).toMatchObject({ replayOf: run.executionId, definitionVersion: 1 });
    expect(replay.body.executionId).not.toBe(run.executionId);

    const row = await settled(replay.body.executionId);
    expect(row).toMatchObject({ status: 'SUCCESS', definitionVersion: 1, replayOf: run.executionId });
    expect(hits('/first')).toBe(2);
    const firstBodies = sink.requests.filter((r) => r.path.startsWith('/first')).map((r) => r.json);
    expect(firstBodies).toEqual([{ order: 'A-1' }, { order: 'A-1' }]);

    // The original stays as it was; replaying an open execution is refused.
    expect((await h.api('GET', `/api/executions/${run.executionId}`)).body.status).toBe('FAILED');
    const created = await h.api('POST', '/api/workflows', {
      key: 'replay-open',
      name: 'Open',
      steps: [{ id: 'wait', type: 'wait_for_signal', signal: 'go', timeout: '1m' }],
    });
    const open = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: {} });
    const refused = await h.api('POST', `/api/executions/${open.body.executionId}/replay`, { reason: 'again' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('execution_open');
    expect((await h.api('POST', `/api/executions/${run.executionId}/replay`, { reason: 'x', triggerData: {} })).status).toBe(400);
    const unexplained = await h.api('POST', `/api/executions/${run.executionId}/replay`, {});
    expect(unexplained.status).toBe(400);
    expect(unexplained.body.errors).toEqual([{ path: '$.body.reason', message: expect.any(String) }]);

    // Both actions are on record: who, why, on what, and what came of it.
    const audit = await h.api('GET', `/api/audit?target=${run.executionId}`);
    expect(audit.status).toBe(200);
    expect(audit.body.items).toEqual([
      expect.objectContaining({ action: 'execution.replay', actor: 'test harness', reason: 'the API is back', outcome: { executionId: replay.body.executionId } }),
    ]);
  });
});
