import type { WorkflowInfo } from '@temporalio/workflow';
import { describe, expect, it } from 'vitest';
import type { MirrorUpdate } from '../../src/shared/run';
import { mirrorSinks, withRetries } from '../../src/worker/mirror-sink';

const FAST = { attempts: 3, initialDelayMs: 1, attemptTimeoutMs: 200 };

function failing(times: number, error = new Error('connection refused')) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    write: async () => {
      calls += 1;
      if (calls <= times) throw error;
    },
  };
}

describe('withRetries', () => {
  it('writes once when the first attempt succeeds', async () => {
    const w = failing(0);
    await withRetries(w.write, FAST);
    expect(w.calls).toBe(1);
  });

  it('tries again after a failure, up to the last attempt', async () => {
    const w = failing(2);
    await withRetries(w.write, FAST);
    expect(w.calls).toBe(3);
  });

  it('gives up after the last attempt with its error', async () => {
    const w = failing(5, new Error('database is down'));
    await expect(withRetries(w.write, FAST)).rejects.toThrow('database is down');
    expect(w.calls).toBe(3);
  });

  it('does not wait longer than an attempt may take for a write that hangs', async () => {
    let calls = 0;
    const hangsOnce = () => {
      calls += 1;
      return calls === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
    };
    await withRetries(hangsOnce, { attempts: 2, initialDelayMs: 1, attemptTimeoutMs: 50 });
    expect(calls).toBe(2);
  });
});

describe('mirrorSinks', () => {
  const info = { workflowId: 'wf-1', runId: 'run-1' } as WorkflowInfo;
  const update: MirrorUpdate = {
    executionId: 'exec-1',
    events: [{ stepPath: 'a', stepId: 'a', stepType: 'set', event: 'COMPLETED', at: '2026-11-26T00:00:00.000Z', attempt: 1, output: { total: 3 } }],
    status: 'SUCCESS',
  };

  it('hands the final update to the write, ended at the time the run ended, and is not called while replaying', async () => {
    const written: MirrorUpdate[] = [];
    const sink = mirrorSinks(async (u) => void written.push(u), FAST).mirror.recordFinal;
    const before = Date.now();
    // Workflow time stands still through a task: a task that took long would leave finishedAt early.
    await sink.fn(info, { ...update, finishedAt: '2026-11-26T00:00:00.000Z' });
    expect(written).toEqual([{ ...update, finishedAt: expect.any(String) }]);
    expect(Date.parse(written[0]!.finishedAt!)).toBeGreaterThanOrEqual(before);
    expect(sink.callDuringReplay).toBe(false);
  });

  it('swallows a write that fails every attempt, so the run still completes', async () => {
    const w = failing(10);
    const sink = mirrorSinks(w.write, FAST).mirror.recordFinal;
    await expect(sink.fn(info, update)).resolves.toBeUndefined();
    expect(w.calls).toBe(3);
  });
});
