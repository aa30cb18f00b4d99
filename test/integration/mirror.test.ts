/**
 * The mirror stays right when the workflow cannot report for itself, and
 * runs keep the definition version they started with.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution, insertExecution, listExecutionLogs } from '../../db/executions';
import type { ExecutionRow } from '../../db/schema';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { createLogger } from '../../src/logger';
import { MIRROR_PROGRESS_LAG_MS } from '../../workflows/run/journal';
import { createReconciler } from '../../src/mirror/reconciler';
import { eventually, createHarness, type Harness } from '../support/harness';

let h: Harness;
let peer: HttpSink;

beforeAll(async () => {
  peer = await startHttpSink();
  h = await createHarness({ env: { HTTP_ALLOWED_HOSTS: '127.0.0.1' } });
});

afterAll(async () => {
  await h?.close();
  await peer?.close();
});

/** The execution's row once `check` holds for it. */
function rowWhen(executionId: string, check: (row: ExecutionRow) => boolean, what: string): Promise<ExecutionRow> {
  return eventually(async () => {
    const row = await findExecution(h.db, executionId);
    return row && check(row) ? row : undefined;
  }, undefined, what);
}

function reconciler() {
  return createReconciler({ db: h.db, client: h.client, logger: createLogger({ logLevel: 'silent' }, 'test'), graceMs: 0, runningGraceMs: 0 });
}

/** A reconciler whose backoffs are an hour: only its list of runs closed from outside can settle a row. */
function patientReconciler() {
  return createReconciler({ db: h.db, client: h.client, logger: createLogger({ logLevel: 'silent' }, 'test'), graceMs: 3_600_000, runningGraceMs: 3_600_000 });
}

async function startWaitingRun(key: string) {
  const def = await h.api('POST', '/api/workflows', {
    key,
    name: `Waiting ${key}`,
    steps: [
      { id: 'before', type: 'set', values: { ready: true } },
      { id: 'wait', type: 'delay', duration: '1h', name: 'wait an hour' },
      { id: 'after', type: 'set', values: { done: true } },
    ],
  });
  expect(def.status).toBe(201);
  const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
  expect(started.status).toBe(202);
  // The workflow mirrors the step it waits on before it starts waiting.
  await rowWhen(started.body.executionId, (row) => row.current_step === 'wait', 'the run to reach its delay');
  return started.body as { executionId: string; workflowId: string };
}

describe('the mirror', () => {
  it('shows live state while a run waits, from the workflow query', async () => {
    const run = await startWaitingRun('live-state');
    const res = await h.api('GET', `/api/executions/${run.executionId}`);
    expect(res.body.status).toBe('RUNNING');
    expect(res.body.currentStep).toBe('wait');
    expect(res.body.live.currentSteps).toEqual(['wait']);
    expect(res.body.live.vars).toEqual({ ready: true });
    expect(res.body.live.steps.find((s: { id: string }) => s.id === 'wait').status).toBe('WAITING');
    await h.client.workflow.getHandle(run.workflowId).terminate('test cleanup');
  });

  it('records a cancelled run as CANCELLED, from the workflow itself', async () => {
    const run = await startWaitingRun('cancelled-run');
    await h.client.workflow.getHandle(run.workflowId).cancel();
    const row = await rowWhen(run.executionId, (r) => r.status === 'CANCELLED', 'the CANCELLED row');
    expect(row.finished_at).toBeInstanceOf(Date);
  });

  it('settles a run terminated from outside as TERMINATED, with its step log', async () => {
    const run = await startWaitingRun('terminated-run');
    await h.client.workflow.getHandle(run.workflowId).terminate('operator stopped it');
    expect((await findExecution(h.db, run.executionId))?.status).toBe('RUNNING');

    const settled = await reconciler().reconcileOnce();
    expect(settled).toBeGreaterThanOrEqual(1);
    const res = await h.api('GET', `/api/executions/${run.executionId}`);
    expect(res.body.status).toBe('TERMINATED');
    expect(res.body.finishedAt).toBeTruthy();
    expect(res.body.error).toMatch(/terminated/);
    const events = res.body.logs.map((l: { stepPath: string; event: string }) => `${l.stepPath}:${l.event}`);
    expect(events).toEqual(['before:STARTED', 'before:COMPLETED', 'wait:STARTED']);
  });

  it('settles a run terminated from outside at the next pass, however recently its row was written, from the runs Temporal lists as closed', async () => {
    const patient = patientReconciler();
    const run = await startWaitingRun('terminated-listed');
    // The row was last written a minute before the close (a close within seconds of a write is left to the backoff).
    await h.db.updateTable('workflow_executions').set({ updated_at: new Date(Date.now() - 60_000) }).where('id', '=', run.executionId).execute();
    await h.client.workflow.getHandle(run.workflowId).terminate('operator stopped it');
    // Visibility records the close shortly after it; each pass asks it again.
    await eventually(async () => ((await patient.reconcileOnce()) >= 1 ? true : undefined), undefined, 'a pass to settle the terminated run');
    const row = await findExecution(h.db, run.executionId);
    expect(row?.status).toBe('TERMINATED');
    expect(row?.error).toMatch(/terminated/);
    expect((await listExecutionLogs(h.db, run.executionId)).map((l) => `${l.step_path}:${l.event}`)).toEqual(['before:STARTED', 'before:COMPLETED', 'wait:STARTED']);
    // The next pass finds it settled and leaves it.
    expect(await patient.reconcileOnce()).toBe(0);
  });

  it('leaves a row reopened after its run closed (a reset or a replay) to the run it follows', async () => {
    const patient = patientReconciler();
    const run = await startWaitingRun('terminated-reopened');
    await h.client.workflow.getHandle(run.workflowId).terminate('operator stopped it');
    // As a bulk reset does before its new run starts: the row open again, written after the close.
    await h.db.updateTable('workflow_executions').set({ updated_at: new Date(Date.now() + 60_000) }).where('id', '=', run.executionId).execute();
    const listed = await eventually(async () => {
      for await (const closed of h.client.workflow.list({ query: `WorkflowId = '${run.workflowId}' AND ExecutionStatus = 'Terminated'` })) return closed.workflowId === run.workflowId;
      return undefined;
    }, undefined, 'visibility to list the terminated run');
    expect(listed).toBe(true);
    await patient.reconcileOnce();
    expect((await findExecution(h.db, run.executionId))?.status).toBe('RUNNING');
  });

  it('marks a row whose run never reached Temporal as FAILED', async () => {
    const def = await h.api('POST', '/api/workflows', {
      key: 'never-started',
      name: 'Never started',
      steps: [{ id: 'x', type: 'set', values: { a: 1 } }],
    });
    const id = randomUUID();
    await insertExecution(h.db, {
      id,
      definition_id: def.body.id,
      definition_version: 1,
      workflow_id: `never-started-${id}`,
      run_id: null,
      status: 'PENDING',
      trigger_type: 'manual',
      trigger_data: '{}',
      template_key: null,
      category: 'general',
      current_step: null,
      error: null,
      finished_at: null,
      duration_ms: null,
      updated_at: new Date(Date.now() - 60_000),
    });
    await reconciler().reconcileOnce();
    const row = await findExecution(h.db, id);
    expect(row?.status).toBe('FAILED');
    expect(row?.error).toMatch(/never started/);
  });

  it('marks a run started when the gateway could not and no worker has run it yet', async () => {
    const def = await h.api('POST', '/api/workflows', {
      key: 'unmarked-start',
      name: 'Unmarked start',
      steps: [{ id: 'x', type: 'set', values: { a: 1 } }],
    });
    await h.stopWorker();
    try {
      const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
      expect(started.status).toBe(202);
      // The gateway marks the row after answering.
      await rowWhen(started.body.executionId, (row) => row.run_id !== null, 'the mark');
      // As if that write had failed: the row still PENDING, with no run id.
      await h.db
        .updateTable('workflow_executions')
        .set({ run_id: null, status: 'PENDING', updated_at: new Date(Date.now() - 60_000) })
        .where('id', '=', started.body.executionId)
        .execute();
      await reconciler().reconcileOnce();
      const row = await findExecution(h.db, started.body.executionId);
      expect(row?.status).toBe('RUNNING');
      expect(row?.run_id).toBe(started.body.runId);
      await h.client.workflow.getHandle(started.body.workflowId).terminate('test cleanup');
    } finally {
      await h.startWorker();
    }
  });

  describe('makes a row the database lost again, from its run', () => {
    /** Starts a run with no worker polling, then deletes its row: a database crash before the row reached disk. */
    async function startAndLoseRow(key: string, steps: unknown[]) {
      const def = await h.api('POST', '/api/workflows', { key, name: `Lost ${key}`, category: 'orders', steps });
      expect(def.status).toBe(201);
      await h.stopWorker();
      try {
        const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: { order: 7 } });
        expect(started.status).toBe(202);
        const before = await rowWhen(started.body.executionId, (row) => row.run_id !== null, 'the mark');
        await h.db.deleteFrom('workflow_executions').where('id', '=', started.body.executionId).execute();
        return { definitionId: def.body.id as string, started: started.body as { executionId: string; workflowId: string; runId: string }, before };
      } finally {
        await h.startWorker();
      }
    }

    it('when its first write is its last', async () => {
      const { definitionId, started } = await startAndLoseRow('lost-row-quick', [{ id: 'x', type: 'set', values: { a: 1 } }]);
      const row = await rowWhen(started.executionId, (r) => r.status === 'SUCCESS', 'the row made again');
      expect(row).toMatchObject({
        definition_id: definitionId,
        definition_version: 1,
        workflow_id: started.workflowId,
        run_id: started.runId,
        trigger_type: 'manual',
        trigger_data: { order: 7 },
        category: 'orders',
        current_step: null,
      });
      // The start time is Temporal's, not the insert's.
      const { startTime } = await h.client.workflow.getHandle(started.workflowId).describe();
      expect(row.started_at.getTime()).toBe(startTime.getTime());
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
      const events = (await listExecutionLogs(h.db, started.executionId)).map((l) => `${l.step_id}:${l.event}`);
      expect(events).toEqual(['x:STARTED', 'x:COMPLETED']);
    });

    it('when it writes before it waits', async () => {
      const { started } = await startAndLoseRow('lost-row-waiting', [
        { id: 'before', type: 'set', values: { ready: true } },
        { id: 'wait', type: 'delay', duration: '1h' },
      ]);
      const row = await rowWhen(started.executionId, (r) => r.current_step === 'wait', 'the row made again at the wait');
      expect(row).toMatchObject({ status: 'RUNNING', run_id: started.runId, trigger_data: { order: 7 } });
      const res = await h.api('GET', `/api/executions/${started.executionId}`);
      expect(res.status).toBe(200);
      expect(res.body.live.currentSteps).toEqual(['wait']);
      await h.client.workflow.getHandle(started.workflowId).terminate('test cleanup');
    });
  });

  it('sends a run\'s row only until the mirror has taken one of its writes', async () => {
    const def = await h.api('POST', '/api/workflows', {
      key: 'row-sent-once',
      name: 'Row sent once',
      steps: [
        { id: 'wait', type: 'delay', duration: '1500ms' },
        { id: 'after', type: 'set', values: { done: true } },
      ],
    });
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
    await rowWhen(started.body.executionId, (row) => row.current_step === 'wait', 'the write at the wait');
    // Written once, the row is on disk: the run's later writes (here the final one) no longer carry it.
    await h.db.deleteFrom('workflow_executions').where('id', '=', started.body.executionId).execute();
    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    expect(result.vars).toEqual({ done: true });
    expect(await findExecution(h.db, started.body.executionId)).toBeUndefined();
  });

  it('hears of a run busy with activities from the worker, with nothing in its history, and logs each event once', async () => {
    let releaseSecond!: () => void;
    const second = new Promise<void>((resolve) => (releaseSecond = resolve));
    // The first call outlasts the mirror's lag for a run busy with activities, so the run reports its progress before the second.
    const outlast = MIRROR_PROGRESS_LAG_MS + 200;
    peer.onArrival = (req) => (req.path.startsWith('/first') ? new Promise((resolve) => setTimeout(resolve, outlast)) : req.path.startsWith('/second') ? second : undefined);
    try {
      const def = await h.api('POST', '/api/workflows', {
        key: 'progress-by-sink',
        name: 'Progress by sink',
        steps: [
          // Writes: ordinary activities (reads could go as local activities, a marker each).
          { id: 'first', type: 'http', method: 'POST', url: `${peer.url}/first` },
          { id: 'second', type: 'http', method: 'POST', url: `${peer.url}/second` },
        ],
      });
      expect(def.status).toBe(201);
      const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
      const { executionId, workflowId } = started.body as { executionId: string; workflowId: string };
      // While the second call is held, the mirror already has the first step's end.
      await eventually(async () => {
        const logs = await listExecutionLogs(h.db, executionId);
        return logs.some((l) => l.step_id === 'first' && l.event === 'COMPLETED') ? true : undefined;
      }, undefined, "the first step's end in the mirror while the run is busy");
      expect((await findExecution(h.db, executionId))?.status).toBe('RUNNING');
      releaseSecond();
      await h.client.workflow.getHandle(workflowId).result();

      // The final write sent those events again: each is logged once all the same.
      const logs = await listExecutionLogs(h.db, executionId);
      const keys = logs.map((l) => `${l.step_path} ${l.event} ${l.attempt}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys).toEqual(expect.arrayContaining(['first STARTED 1', 'first COMPLETED 1', 'second STARTED 1', 'second COMPLETED 1']));
      // No local activity wrote the mirror: the history has the two calls and nothing for the mirror.
      const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
      const markers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
      expect(markers).toHaveLength(0);
    } finally {
      releaseSecond();
      peer.onArrival = undefined;
    }
  });

  it('keeps a run on the version it started with after a new version is saved', async () => {
    const def = await h.api('POST', '/api/workflows', {
      key: 'pinned-version',
      name: 'Pinned',
      steps: [
        { id: 'pause', type: 'delay', duration: '1500ms' },
        { id: 'mark', type: 'set', values: { version: 1 } },
      ],
    });
    const started = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
    const v2 = await h.api('PUT', `/api/workflows/${def.body.id}`, {
      key: 'pinned-version',
      name: 'Pinned',
      steps: [{ id: 'mark', type: 'set', values: { version: 2 } }],
    });
    expect(v2.body.version).toBe(2);
    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    expect(result.vars).toEqual({ version: 1 });
    const row = await findExecution(h.db, started.body.executionId);
    expect(row?.definition_version).toBe(1);

    const next = await h.api('POST', `/api/workflows/${def.body.id}/execute`, { triggerData: {} });
    expect(next.body.definitionVersion).toBe(2);
    expect((await h.client.workflow.getHandle(next.body.workflowId).result()).vars).toEqual({ version: 2 });
  });
});
