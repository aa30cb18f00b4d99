/**
 * A run's waits (workflows/run/waits.ts) and its moves between definition
 * versions (workflows/run/moves.ts): who may decide, what events are kept
 * for whom, and when a run may move.
 */
import type { CancellationScope } from '@temporalio/workflow';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApprovalStep, Step } from '../../src/shared/definition';
import type { MigrateInput } from '../../src/shared/migration';
import type { ApprovalDecision, RunInput } from '../../src/shared/run';
import { Journal } from '../../workflows/run/journal';
import { Moves } from '../../workflows/run/moves';
import { Waits } from '../../workflows/run/waits';
import { fake } from './support/fake-workflow';

vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));

const approval = { id: 'ok', type: 'approval', approvers: ['Ada', 'Grace'], required: 2, timeout: '1h', onTimeout: 'reject' } as ApprovalStep;
const byRole = { id: 'ok', type: 'approval', role: 'operator', timeout: '1h', onTimeout: 'reject' } as ApprovalStep;

function queue() {
  const queued: ApprovalDecision[] = [];
  return { queued, queueDecision: (d: ApprovalDecision) => queued.push(d) };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  fake.reset();
});

// The unit project shares a process between files: give the next file the real clock back.
afterAll(() => vi.useRealTimers());

describe('approvals', () => {
  it('takes a decision from a named approver, numbered, and queues it for the mirror', () => {
    const decisions = queue();
    const waits = new Waits(decisions);
    waits.openApproval('ok', approval);
    expect(waits.refuseDecision({ step: 'ok', by: ' ada ', decision: 'approve' })).toBeUndefined();
    const first = waits.recordDecision('ok', { decidedBy: 'Ada', decision: 'approve', automatic: false });
    const second = waits.recordDecision('ok', { decidedBy: 'Grace', decision: 'approve', automatic: false });
    expect([first.sequence, second.sequence]).toEqual([1, 2]);
    expect(decisions.queued).toEqual([first, second]);
    expect(waits.approvalStates()).toEqual([{ stepPath: 'ok', approvers: ['Ada', 'Grace'], role: null, required: 2, decisions: [first, second] }]);
  });

  it('refuses someone not named, a second decision by the same person, and a step that does not wait', () => {
    const waits = new Waits(queue());
    expect(waits.refuseDecision({ step: 'ok', by: 'ada', decision: 'approve' })).toBe('no approval step "ok" is waiting');
    waits.openApproval('ok', approval);
    expect(waits.refuseDecision({ step: 'ok', by: 'eve', decision: 'approve' })).toBe('"eve" may not decide step "ok"; approvers: Ada, Grace');
    waits.recordDecision('ok', { decidedBy: 'Ada', decision: 'approve', automatic: false });
    expect(waits.refuseDecision({ step: 'ok', by: 'ADA', decision: 'reject' })).toBe('"ADA" has already decided step "ok"');
    expect(waits.refuseDecision({ step: 'nope', by: 'ada', decision: 'approve' })).toBe('no approval step "nope" is waiting; waiting: ok');
  });

  it('takes a decider by role at or above the step\'s', () => {
    const waits = new Waits(queue());
    waits.openApproval('ok', byRole);
    expect(waits.refuseDecision({ step: 'ok', by: 'x', role: 'admin', decision: 'approve' })).toBeUndefined();
    expect(waits.refuseDecision({ step: 'ok', by: 'x', role: 'viewer', decision: 'approve' })).toBe('step "ok" needs a decider with role operator or higher');
  });

  it('finds an approval by its step id only when one step has it', () => {
    const waits = new Waits(queue());
    waits.openApproval('loop[0].ok', approval);
    expect(waits.findApproval('ok')?.path).toBe('loop[0].ok');
    waits.openApproval('loop[1].ok', approval);
    expect(waits.findApproval('ok')).toBeUndefined();
    expect(waits.findApproval('loop[1].ok')?.path).toBe('loop[1].ok');
    waits.closeApproval('loop[1].ok');
    expect(waits.findApproval('ok')?.path).toBe('loop[0].ok');
  });

  it('opens an approval a move carried with its decisions and the rungs climbed', () => {
    const waits = new Waits(queue());
    const carried = { fromVersion: 1, fromStep: 'ok', toStep: 'ok', waitingSince: 'then', by: 'ops', reason: 'r', escalated: 1, decisions: [] };
    expect(waits.openApproval('ok', approval, carried).escalated).toBe(1);
  });
});

describe('events', () => {
  it('keeps events per signal, in order, until the waiting step takes them, and carries those left', () => {
    const waits = new Waits(queue());
    waits.awaitEvent('paid', 'wait');
    expect(waits.waitingFor('paid')).toBe('wait');
    expect(waits.awaitedSignals()).toEqual(['paid']);
    waits.receiveEvent({ signal: 'paid', data: { n: 1 } });
    waits.receiveEvent({ signal: 'paid', data: { n: 2 } });
    expect(waits.hasEvent('paid')).toBe(true);
    expect(waits.takeEvent('paid')).toMatchObject({ data: { n: 1 }, receivedAt: '2026-12-06T10:00:00.000Z' });
    waits.stopAwaiting('paid');
    expect(waits.waitingFor('paid')).toBeUndefined();
    const carried = waits.undeliveredEvents();
    expect(carried.map(([signal, events]) => [signal, events.length])).toEqual([['paid', 1]]);
    const next = new Waits(queue());
    next.restoreEvents(carried);
    expect(next.takeEvent('paid')?.data).toEqual({ n: 2 });
    expect(next.undeliveredEvents()).toEqual([]);
  });
});

describe('moves between versions', () => {
  const input = {
    executionId: 'exec-1',
    definition: { id: 'def-1', version: 1, document: { key: 'k', name: 'N', steps: [approval] } as never },
    triggerType: 'manual',
    triggerData: {},
  } as RunInput;
  const to = (steps: Step[], version = 2): MigrateInput =>
    ({ definition: { id: 'def-1', version, document: { key: 'k', name: 'N', steps } }, by: 'ops', reason: 'fix' }) as MigrateInput;

  function run() {
    const journal = new Journal(input);
    const waits = new Waits(journal);
    return { journal, waits, moves: new Moves(input, journal, waits) };
  }

  it('refuses a move while no top-level step waits, or to the version the run is on', () => {
    const { journal, moves } = run();
    expect(moves.refuseMigration(to([approval], 1))).toBe('the run is already on version 1');
    journal.started('ok', approval, true);
    expect(moves.refuseMigration(to([approval]))).toBe('the run is not waiting at a top-level approval, delay or wait_for_signal step (it is at ok)');
    moves.enterMovable('ok', approval, undefined, 'it began waiting before runs could move');
    expect(moves.refuseMigration(to([approval]))).toBe('it began waiting before runs could move');
  });

  it('moves a waiting approval with its decisions, and ends its wait', () => {
    const { journal, waits, moves } = run();
    const scope = { cancel: vi.fn() } as unknown as CancellationScope;
    journal.started('ok', approval, true);
    moves.enterMovable('ok', approval, scope);
    expect(moves.refuseMigration(to([approval]))).toBe('step "ok" is busy (not waiting yet); ask again once it waits');
    journal.waiting('ok');
    waits.openApproval('ok', approval);
    waits.recordDecision('ok', { decidedBy: 'Ada', decision: 'approve', automatic: false });
    moves.waitBegan('ok', Date.parse('2026-12-06T09:30:00.000Z'));
    expect(moves.movableAt()).toBe('ok');
    expect(moves.refuseMigration(to([approval]))).toBeUndefined();
    const receipt = moves.requestMigration(to([{ id: 'first', type: 'set', values: {} } as Step, approval]));
    expect(receipt).toEqual({ accepted: true, fromVersion: 1, toVersion: 2, fromStep: 'ok', toStep: 'ok' });
    expect(scope.cancel).toHaveBeenCalledOnce();
    expect(moves.migration?.index).toBe(1);
    expect(moves.migration?.carry).toMatchObject({ waitingSince: '2026-12-06T09:30:00.000Z', escalated: 0, decisions: [{ decidedBy: 'Ada' }] });
    expect(moves.refuseMigration(to([approval], 3))).toBe('the run is already moving to version 2');
    moves.stepMoved('ok', approval, moves.migration!.carry, 2);
    expect(journal.steps.has('ok')).toBe(false);
    expect(journal.currentSteps()).toEqual([]);
  });

  it('gives the carried wait once, to the top-level step it maps to', () => {
    const { moves } = run();
    moves.restore({ fromVersion: 1, fromStep: 'ok', toStep: 'ok', waitingSince: 'then', by: 'ops', reason: 'r' });
    expect(moves.resumedWait('loop[0].ok', approval, false)).toBeUndefined();
    expect(moves.resumedWait('ok', approval, true)?.fromStep).toBe('ok');
    expect(moves.resumedWait('ok', approval, true)).toBeUndefined();
  });
});
