/**
 * The run's context (workflows/context.ts) composing its parts, and the query
 * and updates a run answers with it (workflows/messages.ts), outside a
 * workflow with the SDK's workflow-context functions faked.
 */
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApprovalStep, Step } from '../../src/shared/definition';
import type { RunInput, RunState } from '../../src/shared/run';
import { RunContext } from '../../workflows/context';
import { installHandlers } from '../../workflows/messages';
import { fake } from './support/fake-workflow';

vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));

const approval = { id: 'ok', type: 'approval', approvers: ['ada'], timeout: '1h', onTimeout: 'reject' } as ApprovalStep;
const set = { id: 'v', type: 'set', values: {} } as Step;
const input: RunInput = {
  executionId: 'exec-1',
  definition: { id: 'def-1', version: 1, document: { key: 'k', name: 'N', steps: [approval] } as never },
  triggerType: 'manual',
  triggerData: {},
};

/** Calls a handler's validator, then the handler, as the SDK would. */
function send(name: string, arg: unknown): unknown {
  const entry = fake.handlers.get(name)!;
  (entry.validator as ((a: unknown) => void) | undefined)?.(arg);
  return (entry.handler as (a: unknown) => unknown)(arg);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  fake.reset();
});

// The unit project shares a process between files: give the next file the real clock back.
afterAll(() => vi.useRealTimers());

describe('the run\'s context', () => {
  it('gives each loop iteration its own outputs and path prefix, over the run\'s shared state', () => {
    const ctx = new RunContext(input);
    ctx.stepStarted('v', set);
    ctx.stepFinished('v', set, { n: 1 });
    const iteration = ctx.iteration('loop[0].', 'item', 0);
    expect(iteration.path('v')).toBe('loop[0].v');
    iteration.stepStarted('loop[0].v', set);
    iteration.stepFinished('loop[0].v', set, { n: 2 });
    iteration.vars.seen = true;
    expect(iteration.outputs.v?.output).toEqual({ n: 2 });
    expect(ctx.outputs.v?.output).toEqual({ n: 1 });
    expect(ctx.vars).toEqual({ seen: true });
    expect([...ctx.steps.keys()]).toEqual(['v', 'loop[0].v']);
    expect(fake.details).toEqual(['On step `v`', 'On step `loop[0].v`']);
  });

  it('carries its top-level state and undelivered events to a continuation, which takes them up', () => {
    const ctx = new RunContext(input);
    ctx.stepStarted('v', set);
    ctx.stepFinished('v', set, 1);
    ctx.iteration('loop[0].', 'x', 0).stepStarted('loop[0].v', set);
    ctx.vars.total = 3;
    ctx.receiveEvent({ signal: 'paid', data: {} });
    const carry = ctx.carryOver(1);
    expect(carry).toMatchObject({ next: 1, vars: { total: 3 }, generation: 1, outputs: { v: { output: 1 } } });
    expect(carry.steps.map((s) => s.path)).toEqual(['v']);
    const next = new RunContext({ ...input, resume: carry });
    next.restore(carry);
    expect(next.vars).toEqual({ total: 3 });
    expect(next.hasEvent('paid')).toBe(true);
    expect(next.carryOver(2).generation).toBe(2);
  });
});

describe('what a run answers', () => {
  it('refuses an event nobody waits for, and delivers one a step waits for', () => {
    const ctx = new RunContext(input);
    installHandlers(ctx);
    expect(() => send('deliverEvent', { signal: 'paid' })).toThrow('no step is waiting for "paid"');
    expect(() => send('deliverEvent', { signal: 'paid', data: [1] })).toThrow('an event\'s "data" must be an object');
    ctx.awaitEvent('paid', 'wait');
    expect(send('deliverEvent', { signal: 'paid', data: { n: 1 } })).toEqual({ accepted: true, stepPath: 'wait' });
    expect(ctx.takeEvent('paid')?.data).toEqual({ n: 1 });
  });

  it('takes a decision from an approver of a waiting step, and shows it in the state', () => {
    const ctx = new RunContext(input);
    installHandlers(ctx);
    expect(() => send('decide', { step: 'ok', by: 'ada', decision: 'maybe' })).toThrow('"decision" must be approve or reject');
    expect(() => send('decide', { step: 'ok', by: 'ada', decision: 'approve' })).toThrow('no approval step "ok" is waiting');
    ctx.stepStarted('ok', approval);
    ctx.stepWaiting('ok');
    ctx.openApproval('ok', approval);
    expect(send('decide', { step: 'ok', by: 'ada', decision: 'approve' })).toEqual({ accepted: true, stepPath: 'ok', sequence: 1 });
    const state = (fake.handlers.get('state')!.handler as () => RunState)();
    expect(state.approvals[0]?.decisions.map((d) => d.decidedBy)).toEqual(['ada']);
    expect(state.steps[0]?.status).toBe('WAITING');
    expect(ctx.hasPendingDecisions()).toBe(true);
  });

  it('refuses a move a slice of a foreach is asked for', () => {
    const chunk = new RunContext({ ...input, chunk: { stepPath: 'each', offset: 0, items: [], vars: {}, outputs: {} } });
    installHandlers(chunk);
    const move = { definition: { id: 'def-1', version: 2, document: { steps: [] } }, by: 'ops', reason: 'fix' };
    expect(() => send('migrate', move)).toThrow('a slice of a foreach does not move on its own; move the run that owns it');
  });
});
