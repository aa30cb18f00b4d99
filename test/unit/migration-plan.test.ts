import { describe, expect, it } from 'vitest';
import type { Definition } from '../../src/shared/definition';
import { planMigration } from '../../src/executions/migration';
import type { StepState } from '../../src/shared/run';

const v1 = {
  key: 'plan',
  name: 'Plan',
  steps: [
    { id: 'welcome', type: 'set', values: { a: 1 } },
    { id: 'legacy', type: 'set', values: { b: 1 } },
    { id: 'approve', type: 'approval', approvers: ['alice'], timeout: '1h', onTimeout: 'reject' },
    { id: 'done', type: 'set', values: { c: 1 } },
  ],
} as unknown as Definition;

const v2 = {
  key: 'plan',
  name: 'Plan',
  steps: [
    { id: 'welcome', type: 'set', values: { a: 1 } },
    { id: 'consent', type: 'set', values: { consent: true } },
    { id: 'approve', type: 'approval', approvers: ['alice'], timeout: '1h', onTimeout: 'reject' },
    { id: 'review', type: 'approval', approvers: ['bob'], timeout: '2h', onTimeout: 'approve' },
    { id: 'done', type: 'set', values: { c: 2 } },
  ],
} as unknown as Definition;

const ran = (...ids: string[]): StepState[] => ids.map((id) => ({ path: id, id, type: 'set', status: 'COMPLETED', attempts: 1 }));

const waitingAtApprove = {
  status: 'RUNNING' as const,
  currentSteps: ['approve'],
  movableAt: 'approve',
  steps: [...ran('welcome', 'legacy'), { path: 'approve', id: 'approve', type: 'approval', status: 'WAITING' as const, attempts: 1 }],
};

describe('planMigration', () => {
  it('goes on at the step of the same id; new earlier steps do not run, removed passed ones are fine', () => {
    expect(planMigration(v1, v2, waitingAtApprove, undefined)).toEqual({
      waitingAt: 'approve',
      waitingType: 'approval',
      continuesAt: 'approve',
      continuesType: 'approval',
      notRun: ['consent'],
      passedRemoved: ['legacy'],
      stepChanged: false,
    });
  });

  it('follows the step map, and says when the step it goes on at differs', () => {
    expect(planMigration(v1, v2, waitingAtApprove, { approve: 'review' })).toMatchObject({
      continuesAt: 'review',
      notRun: ['consent'],
      stepChanged: true,
    });
  });

  it('refuses a waiting step with no counterpart, naming the map it needs', () => {
    const v3 = { ...v2, steps: v2.steps.filter((s) => s.id !== 'approve') } as Definition;
    expect(planMigration(v1, v3, waitingAtApprove, undefined).refused).toMatch(
      /step "approve" is not a top-level step of the new version; map the waiting step to one that is/,
    );
    expect(planMigration(v1, v3, waitingAtApprove, { approve: 'gone' }).refused).toMatch(/step "gone" \(mapped from "approve"\)/);
  });

  it('refuses runs that do not wait at a top-level waiting step, are busy, or began waiting before runs could move', () => {
    const atSet = { ...waitingAtApprove, currentSteps: ['done'], movableAt: undefined };
    expect(planMigration(v1, v2, atSet, undefined).refused).toMatch(/not waiting at a top-level approval, delay or wait_for_signal step \(it is at done\)/);
    const busy = { ...waitingAtApprove, currentSteps: ['approve', 'notifyBoss'], movableAt: undefined };
    expect(planMigration(v1, v2, busy, undefined).refused).toMatch(/step "approve" is busy \(notifyBoss\)/);
    const old = { ...waitingAtApprove, movableAt: undefined };
    expect(planMigration(v1, v2, old, undefined).refused).toMatch(/began waiting at "approve" before runs could move/);
    expect(planMigration(v1, v2, { ...waitingAtApprove, status: 'SUCCESS' }, undefined).refused).toBe('the run is SUCCESS');
  });
});
