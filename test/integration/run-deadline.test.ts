/**
 * A run's deadline: a definition's `timeout`, or a shorter one asked for at
 * the start, ends the run TIMED_OUT on Temporal, and the reconciler (as the
 * worker runs it) settles its mirror row.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { TimeoutFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { createLogger } from '../../src/logger';
import { createReconciler, type Reconciler } from '../../src/mirror/reconciler';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
let reconciler: Reconciler;

beforeAll(async () => {
  h = await createHarness();
  reconciler = createReconciler({ db: h.db, client: h.client, logger: createLogger({ logLevel: 'silent' }, 'test'), intervalMs: 500 });
  reconciler.start();
});

afterAll(async () => {
  await reconciler?.stop();
  await h?.close();
});

const waiting = [{ id: 'wait', type: 'delay', duration: '1h' }];

async function timedOut(started: { executionId: string; workflowId: string }) {
  const err = await h.client.workflow
    .getHandle(started.workflowId)
    .result()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(TimeoutFailure);
  const row = await eventually(async () => {
    const r = await findExecution(h.db, started.executionId);
    return r?.status === 'TIMED_OUT' ? r : undefined;
  }, 60_000, 'the mirror to say TIMED_OUT');
  expect(row.finished_at).not.toBeNull();
}

describe('run deadlines', () => {
  it("ends a run TIMED_OUT at its definition's timeout, in Temporal and the mirror", async () => {
    const created = await h.api('POST', '/api/workflows', { key: 'deadline-def', name: 'Deadline', timeout: '2s', steps: waiting });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.definition?.timeout ?? created.body.timeout).toBe('2s');
    const started = await h.api('POST', '/api/workflows/deadline-def/execute', { triggerData: {} });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const description = await h.client.workflow.getHandle(started.body.workflowId).describe();
    expect(description.raw.executionConfig?.workflowExecutionTimeout?.seconds?.toString()).toBe('2');
    await timedOut(started.body);
  });

  it('takes a shorter deadline from the start request', async () => {
    expect((await h.api('POST', '/api/workflows', { key: 'deadline-start', name: 'Deadline at start', steps: waiting })).status).toBe(201);
    const started = await h.api('POST', '/api/workflows/deadline-start/execute', { triggerData: {}, timeout: '1s' });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await timedOut(started.body);
  });

  it('refuses a start deadline longer than the definition allows, and a deadline under a second', async () => {
    const longer = await h.api('POST', '/api/workflows/deadline-def/execute', { triggerData: {}, timeout: '1h' });
    expect(longer.status).toBe(400);
    expect(longer.body.errors).toEqual([{ path: '$.body.timeout', message: "may only shorten the definition's timeout of 2s" }]);
    const tooShort = await h.api('POST', '/api/workflows', { key: 'deadline-short', name: 'Too short', timeout: '500ms', steps: waiting });
    expect(tooShort.status).toBe(400);
    expect(tooShort.body.errors).toEqual([{ path: '$.timeout', message: 'must be at least 1s' }]);
    const badStart = await h.api('POST', '/api/workflows/deadline-start/execute', { triggerData: {}, timeout: 'soon' });
    expect(badStart.status).toBe(400);
    expect(badStart.body.errors[0].path).toBe('$.body.timeout');
  });
});
