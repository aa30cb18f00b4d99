/**
 * Step handlers (workflows/steps/) given fakes of just the members of the
 * run they declare they use, with the SDK's workflow-context functions faked:
 * what each asks of the run, in what order, and what it answers.
 */
import { RetryState } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/workflow';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type {
  ApprovalStep,
  ChannelStep,
  ConditionStep,
  DbUpdateStep,
  DelayStep,
  ForeachStep,
  HttpStep,
  SetStep,
  Step,
  SwitchStep,
  WaitForSignalStep,
} from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import { type ApprovalPorts, runApproval } from '../../workflows/steps/approval';
import { runCondition } from '../../workflows/steps/condition';
import { runFail, runSucceed, runSwitch, RunSucceeded } from '../../workflows/steps/control';
import { type DatabasePorts, runDbUpdate } from '../../workflows/steps/database';
import { type DelayPorts, runDelay } from '../../workflows/steps/delay';
import { type ForeachPorts, runForeach } from '../../workflows/steps/foreach';
import { type HttpPorts, runHttp } from '../../workflows/steps/http';
import { deliver, type DeliveryPorts } from '../../workflows/steps/notify';
import { runSet, type SetPorts } from '../../workflows/steps/set';
import type { Iterates } from '../../workflows/steps/types';
import { runWaitForSignal, type WaitForSignalPorts } from '../../workflows/steps/wait-for-signal';
import { LOCAL_READ_BOUND_MS, LOCAL_READ_MAX_BYTES, LOCAL_READS_PER_RUN, LocalReads } from '../../workflows/run/local-reads';
import { Waits } from '../../workflows/run/waits';
import { fake, START } from './support/fake-workflow';

vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));

/** A fake of the members a handler uses; each call is logged by name in `log`. */
function ports<P>(members: Record<string, unknown>, log: string[] = []): P {
  const logged = Object.fromEntries(
    Object.entries(members).map(([name, value]) => [
      name,
      typeof value === 'function' ? (...args: unknown[]) => (log.push(name), (value as (...a: unknown[]) => unknown)(...args)) : value,
    ]),
  );
  return logged as P;
}

const noSteps = vi.fn(async (_steps: Step[], _ctx: unknown) => undefined);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  fake.reset();
  noSteps.mockClear();
});

// The unit project shares a process between files: give the next file the real clock back.
afterAll(() => vi.useRealTimers());

describe('set', () => {
  const step = { id: 'v', type: 'set', values: { a: '{{ x }}' } } as SetStep;

  it('in a V2 run, sets plain values at once, without a promise', () => {
    const ctx = ports<SetPorts>({ vars: {}, renderPlainFields: () => ({ a: 1 }), render: () => Promise.reject(new Error('not rendered one by one')) });
    expect(runSet(step, 'v', ctx, noSteps)).toEqual({ a: 1 });
    expect(ctx.vars).toEqual({ a: 1 });
  });

  it('renders each value in turn when they are not plain', async () => {
    const ctx = ports<SetPorts>({ vars: { keep: true }, renderPlainFields: () => undefined, render: async () => 'rendered' });
    await expect(runSet(step, 'v', ctx, noSteps)).resolves.toEqual({ a: 'rendered' });
    expect(ctx.vars).toEqual({ keep: true, a: 'rendered' });
  });
});

describe('condition and switch', () => {
  it('runs the branch the condition chose, in the context given', async () => {
    const ctx = ports<{ evaluate: () => Promise<unknown> }>({ evaluate: async () => 0 });
    const then = [{ id: 't', type: 'set', values: {} }] as Step[];
    const otherwise = [{ id: 'e', type: 'set', values: {} }] as Step[];
    const step = { id: 'c', type: 'condition', condition: 'x', then, else: otherwise } as ConditionStep;
    await expect(runCondition(step, 'c', ctx, noSteps)).resolves.toEqual({ branch: 'else' });
    expect(noSteps).toHaveBeenCalledWith(otherwise, ctx);
  });

  it('runs the case equal to the value, or the default', async () => {
    const one = [{ id: 'one', type: 'set', values: {} }] as Step[];
    const step = { id: 's', type: 'switch', value: 'x', cases: [{ equals: { n: 1 }, steps: one }], default: [] } as unknown as SwitchStep;
    const valued = (value: unknown) => ports<{ evaluate: () => Promise<unknown> }>({ evaluate: async () => value });
    await expect(runSwitch(step, 's', valued({ n: 1 }), noSteps)).resolves.toEqual({ value: { n: 1 }, case: 0 });
    await expect(runSwitch(step, 's', valued('other'), noSteps)).resolves.toEqual({ value: 'other', case: 'default' });
    expect(noSteps.mock.calls.map(([steps]) => steps)).toEqual([one, []]);
  });
});

describe('fail and succeed', () => {
  it('fail ends the run with its rendered message, for good; succeed unwinds with its output', async () => {
    const ctx = ports<{ render: () => Promise<unknown> }>({ render: async () => 'out of stock' });
    const failure = await Promise.resolve(runFail({ id: 'f', type: 'fail', message: 'm' } as never, 'f', ctx, noSteps)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: ERROR_TYPES.StepFailed, nonRetryable: true, message: 'step "f" (fail): out of stock' });
    const ended = await Promise.resolve(runSucceed({ id: 's', type: 'succeed' } as never, 's', ctx, noSteps)).catch((e: unknown) => e);
    expect(ended).toBeInstanceOf(RunSucceeded);
    expect((ended as RunSucceeded).output).toBeNull();
  });
});

describe('http and database steps', () => {
  const activities = { httpRequest: vi.fn(async () => ({ status: 200 })), dbUpdate: vi.fn(async () => ({ rows: 1 })) };
  const base = (log: string[], where: Record<string, unknown> = { id: 7 }) =>
    ports<HttpPorts & DatabasePorts>(
      {
        renderFields: (fields: Record<string, unknown>) => ({ ...fields, ...(fields.where ? { where } : {}) }),
        flushIfBehind: () => undefined,
        activityOptions: (_step: Step, purpose: string) => ({ summary: purpose }),
        activities: () => activities,
        deliveryKey: (path: string) => `wf/${path}`,
        localReads: new LocalReads({ defaultStepTimeoutSeconds: 300, localReads: true }),
        holdUntil: async () => undefined,
      },
      log,
    );

  it('renders, writes the mirror if it lags, then calls the activity with the step\'s options and delivery key', async () => {
    const log: string[] = [];
    const step = { id: 'h', type: 'http', method: 'POST', url: 'https://x', timeout: '5s' } as HttpStep;
    await expect(runHttp(step, 'h', base(log), noSteps)).resolves.toEqual({ status: 200 });
    expect(log).toEqual(['renderFields', 'flushIfBehind', 'activityOptions', 'deliveryKey', 'activities']);
    expect(activities.httpRequest).toHaveBeenCalledWith(expect.objectContaining({ deliveryKey: 'wf/h', url: 'https://x', method: 'POST', timeoutMs: 4_500 }));
    expect(fake.calls).toEqual([]);
  });

  describe('a read (GET, HEAD) in a run with local reads', () => {
    beforeEach(() => {
      fake.reset();
      activities.httpRequest.mockClear();
    });

    it('is sent as a local activity, bounded, once, with the step\'s summary; no ordinary activity', async () => {
      fake.answers.httpRequest = () => ({ status: 200, body: 'local' });
      const step = { id: 'h', type: 'http', url: 'https://x' } as HttpStep;
      await expect(runHttp(step, 'h', base([]), noSteps)).resolves.toEqual({ status: 200, body: 'local' });
      expect(fake.calls).toEqual([
        {
          activity: 'httpRequest',
          args: [expect.objectContaining({ deliveryKey: 'wf/h', url: 'https://x', timeoutMs: LOCAL_READ_BOUND_MS - 100, maxBytes: LOCAL_READ_MAX_BYTES })],
          options: { scheduleToCloseTimeout: LOCAL_READ_BOUND_MS, startToCloseTimeout: LOCAL_READ_BOUND_MS, retry: { maximumAttempts: 1 }, summary: 'GET request' },
        },
      ]);
      expect(activities.httpRequest).not.toHaveBeenCalled();
    });

    it(`sends at most ${LOCAL_READS_PER_RUN} reads of a run locally, the rest as ordinary activities`, async () => {
      const ctx = base([]);
      for (let i = 0; i <= LOCAL_READS_PER_RUN; i += 1) await runHttp({ id: `h${i}`, type: 'http', url: 'https://x' } as HttpStep, `h${i}`, ctx, noSteps);
      expect(fake.calls).toHaveLength(LOCAL_READS_PER_RUN);
      expect(activities.httpRequest).toHaveBeenCalledTimes(1);
      expect(activities.httpRequest).toHaveBeenCalledWith(expect.objectContaining({ deliveryKey: `wf/h${LOCAL_READS_PER_RUN}` }));
    });

    it('keeps a step\'s shorter deadline', async () => {
      const step = { id: 'h', type: 'http', method: 'HEAD', url: 'https://x', timeout: '700ms' } as HttpStep;
      await runHttp(step, 'h', base([]), noSteps);
      expect(fake.calls[0]?.args[0]).toMatchObject({ method: 'HEAD', timeoutMs: 200 });
    });

    it('falls back to the ordinary activity when the local attempt fails, and the run reads by ordinary activities from then on', async () => {
      fake.answers.httpRequest = () => {
        throw new Error('the peer took too long');
      };
      const ctx = base([]);
      const step = { id: 'h', type: 'http', url: 'https://x', timeout: '5s' } as HttpStep;
      await expect(runHttp(step, 'h', ctx, noSteps)).resolves.toEqual({ status: 200 });
      expect(activities.httpRequest).toHaveBeenCalledWith(expect.objectContaining({ url: 'https://x', timeoutMs: 4_500 }));
      expect(fake.calls).toHaveLength(1);
      await runHttp({ ...step, id: 'h2' }, 'h2', ctx, noSteps);
      expect(fake.calls).toHaveLength(1);
      expect(activities.httpRequest).toHaveBeenCalledTimes(2);
    });

    it('waits as long as a peer that answered 429 asked before sending the read again', async () => {
      fake.answers.httpRequest = () => {
        throw new ActivityFailure('failed', 'httpRequest', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, ApplicationFailure.create({ type: 'ProviderRateLimited', nextRetryDelay: 30_000, details: [{ retryAfterMs: 30_000 }] }));
      };
      const log: string[] = [];
      const holds: number[] = [];
      const ctx = { ...base(log), holdUntil: async (_path: string, _step: Step, until: number) => void holds.push(until - START) };
      await runHttp({ id: 'h', type: 'http', url: 'https://x' } as HttpStep, 'h', ctx, noSteps);
      expect(holds).toEqual([30_000]);
      expect(activities.httpRequest).toHaveBeenCalledTimes(1);
    });

    it('does not fall back when the run is cancelled', async () => {
      fake.answers.httpRequest = () => {
        throw new CancelledFailure('run cancelled');
      };
      const failure = await Promise.resolve(runHttp({ id: 'h', type: 'http', url: 'https://x' } as HttpStep, 'h', base([]), noSteps)).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(CancelledFailure);
      expect(activities.httpRequest).not.toHaveBeenCalled();
    });

    it('is an ordinary activity in a run started without local reads', async () => {
      const ctx = { ...base([]), localReads: new LocalReads({ defaultStepTimeoutSeconds: 300 }) };
      await runHttp({ id: 'h', type: 'http', url: 'https://x' } as HttpStep, 'h', ctx, noSteps);
      expect(fake.calls).toEqual([]);
      expect(activities.httpRequest).toHaveBeenCalledTimes(1);
    });
  });

  it('refuses an update whose condition rendered to nothing, before any activity', async () => {
    const log: string[] = [];
    const step = { id: 'u', type: 'db_update', table: 't', values: { a: 1 }, where: { id: '{{ x }}' } } as unknown as DbUpdateStep;
    const failure = await Promise.resolve(runDbUpdate(step, 'u', base(log, { id: undefined }), noSteps)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: ERROR_TYPES.ExpressionFailed, nonRetryable: true });
    expect(log).toEqual(['renderFields']);
  });
});

describe('a message\'s delivery', () => {
  const step = { id: 'mail', type: 'email', quietHours: { start: '22:00', end: '07:00', timeZone: '{{ tz }}' } } as unknown as ChannelStep;

  it('waits out the recipient\'s quiet hours, then each pacing slot the sender names', async () => {
    vi.setSystemTime(Date.parse('2026-12-06T23:00:00.000Z'));
    const holds: [number, string][] = [];
    const ctx = ports<DeliveryPorts>({
      render: async () => 'UTC',
      flushIfBehind: () => undefined,
      holdUntil: async (_path: string, _step: Step, until: number, reason: string) => {
        holds.push([until, reason]);
      },
    });
    const answers = [{ paced: true, channel: 'email', notBefore: '2026-12-07T07:00:05.000Z' }, { sent: true }];
    await expect(deliver(step, 'mail', ctx, async () => answers.shift()!)).resolves.toEqual({ sent: true });
    expect(holds).toEqual([
      [Date.parse('2026-12-07T07:00:00.000Z'), 'quiet hours (22:00–07:00 UTC)'],
      [Date.parse('2026-12-07T07:00:05.000Z'), 'email pacing'],
    ]);
  });

  it("waits out its connection's quiet hours under the reason the sender gives", async () => {
    const holds: string[] = [];
    const ctx = ports<DeliveryPorts>({
      render: async () => 'UTC',
      flushIfBehind: () => undefined,
      holdUntil: async (_path: string, _step: Step, _until: number, reason: string) => {
        holds.push(reason);
      },
    });
    const answers = [
      { paced: true, channel: 'sms via twilio-eu', notBefore: new Date(Date.now() + 60_000).toISOString(), reason: 'quiet hours of twilio-eu (21:00–08:00 Europe/Berlin)' },
      { paced: true, channel: 'sms', notBefore: new Date(Date.now() + 62_000).toISOString() },
      { sent: true },
    ];
    const plain = { id: 'text', type: 'sms' } as unknown as ChannelStep;
    await expect(deliver(plain, 'text', ctx, async () => answers.shift()!)).resolves.toEqual({ sent: true });
    expect(holds).toEqual(['quiet hours of twilio-eu (21:00–08:00 Europe/Berlin)', 'sms pacing']);
  });

  it('fails for good on a time zone that is none', async () => {
    const ctx = ports<DeliveryPorts>({ render: async () => 'Mars/Olympus', flushIfBehind: () => undefined, holdUntil: async () => undefined });
    await expect(deliver(step, 'mail', ctx, async () => ({}))).rejects.toMatchObject({ type: ERROR_TYPES.InvalidTimeZone, nonRetryable: true });
  });
});

describe('waiting steps', () => {
  it('delay shows the step waiting, writes the mirror, then sleeps the duration', async () => {
    const log: string[] = [];
    const ctx = ports<DelayPorts>(
      { resumedWait: () => undefined, waitBegan: () => undefined, stepWaiting: () => undefined, evaluate: async () => 0, flush: async () => undefined },
      log,
    );
    await expect(runDelay({ id: 'd', type: 'delay', duration: '2s' } as DelayStep, 'd', ctx, noSteps)).resolves.toEqual({ waitedMs: 2_000 });
    expect(log).toEqual(['resumedWait', 'waitBegan', 'stepWaiting', 'flush']);
    expect(fake.sleeps).toEqual([{ ms: 2_000, summary: 'd: wait 2s' }]);
  });

  it('a delay moved from another version counts from when it began to wait', async () => {
    const ctx = ports<DelayPorts>({
      resumedWait: () => ({ waitingSince: new Date(START - 1_500).toISOString() }),
      waitBegan: () => undefined,
      stepWaiting: () => undefined,
      evaluate: async () => 0,
      flush: async () => undefined,
    });
    await expect(runDelay({ id: 'd', type: 'delay', duration: '2s' } as DelayStep, 'd', ctx, noSteps)).resolves.toEqual({ waitedMs: 500 });
  });

  it('wait_for_signal answers the event that arrived, or runs onTimeout', async () => {
    const waits = new Waits({ queueDecision: () => undefined });
    const ctx = ports<WaitForSignalPorts>({
      resumedWait: () => undefined,
      waitBegan: () => undefined,
      stepWaiting: () => undefined,
      flush: async () => undefined,
      awaitEvent: (signal: string, path: string) => waits.awaitEvent(signal, path),
      stopAwaiting: (signal: string) => waits.stopAwaiting(signal),
      hasEvent: (signal: string) => waits.hasEvent(signal),
      takeEvent: (signal: string) => waits.takeEvent(signal),
    });
    const onTimeout = [{ id: 'late', type: 'set', values: {} }] as Step[];
    const step = { id: 'w', type: 'wait_for_signal', signal: 'paid', timeout: '1h', onTimeout } as WaitForSignalStep;
    await expect(runWaitForSignal(step, 'w', ctx, noSteps)).resolves.toEqual({ timedOut: true });
    expect(noSteps).toHaveBeenCalledWith(onTimeout, ctx);
    waits.receiveEvent({ signal: 'paid', by: 'shop', data: { amount: 5 } });
    await expect(runWaitForSignal(step, 'w', ctx, noSteps)).resolves.toMatchObject({ timedOut: false, by: 'shop', data: { amount: 5 } });
    expect(fake.conditions).toEqual([3_600_000, 3_600_000]);
    expect(waits.waitingFor('paid')).toBeUndefined();
  });

  it('approval decides on its own at the timeout as configured, and closes', async () => {
    const waits = new Waits({ queueDecision: () => undefined });
    const log: string[] = [];
    const ctx = ports<ApprovalPorts>(
      {
        resumedWait: () => undefined,
        waitBegan: () => undefined,
        stepWaiting: () => undefined,
        flush: async () => undefined,
        hasPendingDecisions: () => false,
        openApproval: waits.openApproval.bind(waits),
        closeApproval: waits.closeApproval.bind(waits),
        recordDecision: waits.recordDecision.bind(waits),
      },
      log,
    );
    const step = { id: 'ok', type: 'approval', approvers: ['ada'], timeout: '1h', onTimeout: 'approve' } as ApprovalStep;
    await expect(runApproval(step, 'ok', ctx, noSteps)).resolves.toMatchObject({ outcome: 'approved', automatic: true, decisions: [{ by: 'system' }] });
    expect(log).toEqual(['resumedWait', 'stepWaiting', 'openApproval', 'flush', 'waitBegan', 'hasPendingDecisions', 'recordDecision', 'closeApproval']);
    expect(waits.findApproval('ok')).toBeUndefined();
  });
});

describe('foreach', () => {
  type Fake = ForeachPorts & Iterates<Fake>;
  function loop(items: unknown): Fake {
    const ctx = ports<Fake>({
      input: {},
      vars: {},
      outputs: {},
      frame: { prefix: '', outputs: {} },
      evaluate: async () => items,
      flush: async () => undefined,
      hasPendingEvents: () => false,
      chunkStarted: () => undefined,
      chunkEnded: () => undefined,
      iteration: (prefix: string, item: unknown) => ({ ...ctx, frame: { prefix, outputs: { seen: { output: item, status: 'COMPLETED' } } } }),
    });
    return ctx;
  }
  const step = { id: 'each', type: 'foreach', items: 'x', steps: [], concurrency: 2, maxItems: 3 } as unknown as ForeachStep;

  it('runs the steps once per item, each in its own iteration, and answers their outputs in order', async () => {
    const ran: string[] = [];
    const runSteps = async (_steps: Step[], iteration: Fake) => void ran.push(iteration.frame.prefix);
    await expect(runForeach(step, 'each', loop(['a', 'b', 'c']), runSteps)).resolves.toEqual({ count: 3, results: [{ seen: 'a' }, { seen: 'b' }, { seen: 'c' }] });
    expect(ran).toEqual(['each[0].', 'each[1].', 'each[2].']);
  });

  it('refuses what is not a list, and a list longer than maxItems', async () => {
    await expect(runForeach(step, 'each', loop('abc'), noSteps)).rejects.toMatchObject({ type: ERROR_TYPES.ExpressionFailed });
    await expect(runForeach(step, 'each', loop([1, 2, 3, 4]), noSteps)).rejects.toMatchObject({ type: ERROR_TYPES.StepFailed });
  });
});
