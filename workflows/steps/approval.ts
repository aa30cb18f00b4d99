/**
 * `approval`: waits for people to decide. Who may decide is a list of names
 * or a minimum API key role; `required` approvals approve, one rejection
 * rejects. While undecided, the escalation ladder's rungs run their steps at
 * their deadlines (notify the next level); at the timeout the run decides on
 * its own as configured. Every decision is recorded in the mirror's
 * `approval_decisions` table.
 */
import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { ApprovalStep } from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import type { Ports, StepHandler } from './types';

/** What an `approval` step uses of the run. */
export type ApprovalPorts = Ports<
  'resumedWait' | 'waitBegan' | 'stepWaiting' | 'openApproval' | 'closeApproval' | 'recordDecision' | 'flush' | 'hasPendingDecisions'
>;

export const runApproval: StepHandler<ApprovalStep, ApprovalPorts> = async (step, path, ctx, runSteps) => {
  // A run moved here while it waited keeps its decisions, its timeline and the rungs already climbed.
  const resumed = ctx.resumedWait(path, step);
  ctx.stepWaiting(path);
  const wait = ctx.openApproval(path, step, resumed);
  await ctx.flush();
  const startedAt = resumed ? Date.parse(resumed.waitingSince) : Date.now();
  ctx.waitBegan(path, startedAt);
  const required = step.required ?? 1;
  const rejected = () => wait.decisions.some((d) => d.decision === 'reject');
  const decided = () => rejected() || wait.decisions.filter((d) => d.decision === 'approve').length >= required;
  /** Waits until decided (true) or until `offsetMs` after the start (false), mirroring each decision as it comes. */
  const decidedBefore = async (offsetMs: number): Promise<boolean> => {
    for (;;) {
      const remaining = Math.max(1, startedAt + offsetMs - Date.now());
      if (!(await wf.condition(() => decided() || ctx.hasPendingDecisions(), remaining))) return false;
      if (ctx.hasPendingDecisions()) await ctx.flush();
      if (decided()) return true;
    }
  };

  try {
    for (const [index, rung] of (step.escalation ?? []).entries()) {
      if (index < wait.escalated) continue;
      if (await decidedBefore(parseDuration(rung.after) ?? 0)) break;
      await runSteps(rung.steps, ctx);
      wait.escalated = index + 1;
    }
    if (!decided() && !(await decidedBefore(parseDuration(step.timeout) ?? 0))) {
      if (step.onTimeout === 'fail') {
        throw wf.ApplicationFailure.create({
          type: ERROR_TYPES.StepFailed,
          message: `step "${step.id}": nobody decided within ${step.timeout}`,
          nonRetryable: true,
        });
      }
      ctx.recordDecision(path, {
        decidedBy: 'system',
        decision: step.onTimeout,
        automatic: true,
        comment: `no decision within ${step.timeout}`,
      });
    }
  } finally {
    ctx.closeApproval(path);
  }
  return {
    outcome: rejected() ? 'rejected' : 'approved',
    automatic: wait.decisions.some((d) => d.automatic),
    decisions: wait.decisions.map(({ decidedBy, decision, comment, at, automatic }) => ({ by: decidedBy, decision, comment, at, automatic })),
  };
};
