/**
 * The journal of a run (workflows/run/journal.ts): step states and events,
 * and when and how they reach the mirror, outside a workflow with the SDK's
 * workflow-context functions faked.
 */
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Step } from '../../src/shared/definition';
import type { MirrorUpdate, RunInput } from '../../src/shared/run';
import { Journal, MIRROR_MAX_LAG_MS, MIRROR_PROGRESS_LAG_MS, summarize } from '../../workflows/run/journal';
import { fake, START } from './support/fake-workflow';

vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));

const step = { id: 'greet', type: 'set', values: {} } as Step;

function input(overrides: Partial<RunInput> = {}): RunInput {
  return {
    executionId: 'exec-1',
    definition: { id: 'def-1', version: 2, document: { key: 'k', name: 'N', steps: [] } as never },
    triggerType: 'manual',
    triggerData: { a: 1 },
    ...overrides,
  };
}

const written = () => fake.calls.filter((c) => c.activity === 'recordRunEvents').map((c) => c.args[0] as MirrorUpdate);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  fake.reset();
});
afterAll(() => vi.useRealTimers());

describe('the journal of a run', () => {
  it('logs a step started, then finished, with its attempt and the output summary', () => {
    const journal = new Journal(input());
    journal.started('greet', step, true);
    expect(journal.currentSteps()).toEqual(['greet']);
    expect(fake.details).toEqual(['On step `greet`']);
    journal.finished('greet', step, { hello: 'world' });
    expect(journal.currentSteps()).toEqual([]);
    expect(journal.steps.get('greet')).toMatchObject({ status: 'COMPLETED', attempts: 1, output: { hello: 'world' } });
    journal.started('greet', step, true);
    expect(journal.steps.get('greet')?.attempts).toBe(2);
    expect(journal.hasPendingEvents()).toBe(true);
  });

  it('keeps a failed step\'s error and type, and a skipped step without attempts', () => {
    const journal = new Journal(input());
    journal.started('greet', step, true);
    journal.failed('greet', step, 'boom', 'InvalidRecipient');
    journal.skipped('other', { ...step, id: 'other' });
    expect(journal.steps.get('greet')).toMatchObject({ status: 'FAILED', error: 'boom' });
    expect(journal.steps.get('other')).toMatchObject({ status: 'SKIPPED', attempts: 0 });
  });

  it('writes pending events with the row seed until the mirror has taken a write, then without', async () => {
    const journal = new Journal(input());
    journal.started('greet', step, true);
    await journal.flush();
    journal.finished('greet', step, 1);
    await journal.flush();
    const [first, second] = written();
    expect(first?.events.map((e) => e.event)).toEqual(['STARTED']);
    expect(first?.row).toMatchObject({ workflowId: 'wf-1', definitionId: 'def-1', definitionVersion: 2, triggerData: { a: 1 } });
    expect(first?.runId).toBe('run-1');
    expect(second?.events.map((e) => e.event)).toEqual(['COMPLETED']);
    expect(second?.row).toBeUndefined();
    expect(journal.hasPendingEvents()).toBe(false);
  });

  it('makes no write when nothing is pending, but moves the CurrentStep search attribute when it changed', async () => {
    const journal = new Journal(input());
    await journal.flush();
    expect(written()).toEqual([]);
    journal.started('greet', step, true);
    await journal.flush();
    await journal.flush();
    expect(fake.searchAttributes).toHaveLength(1);
    expect(journal.currentStepAttribute).toBe('greet');
  });

  it('keeps events for the next write when a write fails', async () => {
    const journal = new Journal(input());
    fake.answers.recordRunEvents = () => {
      throw new Error('mirror down');
    };
    journal.started('greet', step, true);
    await journal.flush();
    expect(journal.hasPendingEvents()).toBe(true);
    fake.answers = {};
    await journal.flush();
    expect(written().at(-1)?.events.map((e) => e.event)).toEqual(['STARTED']);
    expect(written().at(-1)?.row).toBeDefined();
  });

  it('before an activity, writes only when the mirror lags, and never with a promise when it does not', async () => {
    const journal = new Journal(input());
    journal.started('greet', step, true);
    expect(journal.flushIfBehind()).toBeUndefined();
    vi.setSystemTime(START + MIRROR_MAX_LAG_MS);
    const flushing = journal.flushIfBehind();
    expect(flushing).toBeInstanceOf(Promise);
    await flushing;
    expect(written()).toHaveLength(1);
  });

  it('in a V1 run, before an activity, always answers a promise, asking the lean-runs patch', async () => {
    fake.workflowType = 'interpreterWorkflow';
    const journal = new Journal(input());
    const flushing = journal.flushIfBehind();
    expect(flushing).toBeInstanceOf(Promise);
    await flushing;
    expect(fake.asked).toContain('lean-runs-2026-11');
  });

  it('reports progress through the sink for runs that ask so, each event once', () => {
    const journal = new Journal(input({ settings: { mirrorProgress: 'sink' } as never }));
    journal.started('greet', step, true);
    vi.setSystemTime(START + MIRROR_PROGRESS_LAG_MS);
    expect(journal.flushIfBehind()).toBeUndefined();
    vi.setSystemTime(START + 2 * MIRROR_PROGRESS_LAG_MS);
    expect(journal.flushIfBehind()).toBeUndefined();
    expect(fake.sinks.map((s) => s.fn)).toEqual(['recordProgress']);
    expect(journal.hasPendingEvents()).toBe(true);
    expect(written()).toEqual([]);
  });

  it('hands a V2 run\'s final write to the sink, and says how the run finished', async () => {
    const journal = new Journal(input());
    await journal.flush({ status: 'FAILED', error: 'x'.repeat(400) });
    expect(written()).toEqual([]);
    expect(fake.sinks[0]?.fn).toBe('recordFinal');
    expect((fake.sinks[0]?.args[0] as MirrorUpdate).status).toBe('FAILED');
    expect(fake.details.at(-1)).toBe(`Finished, FAILED: ${'x'.repeat(300)}…`);
  });

  it('upserts CurrentStep only for top-level steps and never in a foreach chunk', async () => {
    const chunk = new Journal(input({ chunk: { stepPath: 'loop', offset: 0, items: [], vars: {}, outputs: {} } }));
    chunk.started('a', step, true);
    await chunk.flush();
    expect(fake.searchAttributes).toEqual([]);
    expect(written()[0]?.runId).toBeUndefined();
    const journal = new Journal(input());
    journal.started('loop[0].a', step, false);
    await journal.flush();
    expect(fake.searchAttributes).toEqual([]);
  });

  it('holds a step on a timer, WAITING with its reason, and not at all for a moment past', async () => {
    const journal = new Journal(input());
    journal.started('greet', step, true);
    await journal.holdUntil('greet', step, START - 1, 'quiet hours');
    expect(fake.sleeps).toEqual([]);
    const holding = journal.holdUntil('greet', step, START + 60_000, 'quiet hours');
    expect(journal.steps.get('greet')).toMatchObject({ status: 'WAITING', waitingReason: 'quiet hours' });
    await holding;
    expect(fake.sleeps).toEqual([{ ms: 60_000, summary: 'greet: quiet hours until 2026-12-06T10:01:00.000Z' }]);
    expect(journal.steps.get('greet')).toMatchObject({ status: 'RUNNING', waitingReason: undefined });
  });

  it('writes decisions queued by approvals with the next write', async () => {
    const journal = new Journal(input());
    journal.queueDecision({ stepPath: 'ok', sequence: 1, at: 'now', decidedBy: 'ada', decision: 'approve', automatic: false });
    expect(journal.hasPendingDecisions()).toBe(true);
    await journal.flush();
    expect(written()[0]?.decisions).toHaveLength(1);
    expect(journal.hasPendingDecisions()).toBe(false);
  });
});

describe('summarize', () => {
  it('keeps small outputs whole and large ones as a preview', () => {
    expect(summarize(undefined)).toBeNull();
    expect(summarize({ a: 1 })).toEqual({ a: 1 });
    expect(summarize('x'.repeat(5_000))).toMatchObject({ truncated: true });
  });
});
