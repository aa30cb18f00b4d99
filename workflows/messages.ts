/**
 * What a run answers from outside while it runs: the `state` query, and the
 * updates that deliver an event, record a decision or move the run onto
 * another definition version. Each update is validated before it enters
 * history; the run's waits and moves (workflows/run/) decide what is refused.
 */
import * as wf from '@temporalio/workflow';
import { MIGRATE_UPDATE, type MigrateInput, type MigrateReceipt } from '../src/shared/migration';
import {
  DECIDE_UPDATE,
  type DecisionInput,
  type DecisionReceipt,
  DELIVER_EVENT_UPDATE,
  type RunEvent,
  type RunEventReceipt,
  type RunState,
} from '../src/shared/run';
import type { RunContext } from './context';

/** The run as the workflow sees it now: current steps, step states, variables. */
export const stateQuery = wf.defineQuery<RunState>('state');

/** Records one person's decision at a waiting `approval` step. */
export const decideUpdate = wf.defineUpdate<DecisionReceipt, [DecisionInput]>(DECIDE_UPDATE);

/** Moves a run waiting at a top-level step onto another version of its definition (src/shared/migration.ts). */
export const migrateUpdate = wf.defineUpdate<MigrateReceipt, [MigrateInput]>(MIGRATE_UPDATE);

/** Delivers an approval or external event to the `wait_for_signal` step waiting for it. */
export const deliverEventUpdate = wf.defineUpdate<RunEventReceipt, [RunEvent]>(DELIVER_EVENT_UPDATE);

/** What answering them uses of the run: its state, its waits and its moves. */
export type MessagePorts = Pick<
  RunContext,
  'snapshot' | 'receiveEvent' | 'waitingFor' | 'requestMigration' | 'refuseMigration' | 'findApproval' | 'recordDecision' | 'refuseDecision'
>;

/**
 * The query and updates every run answers, chunks of a large `foreach`
 * included (the gateway forwards an event or a decision to the chunk whose
 * step waits for it).
 */
export function installHandlers(ctx: MessagePorts): void {
  wf.setHandler(stateQuery, () => ctx.snapshot());
  wf.setHandler(
    deliverEventUpdate,
    (event) => {
      ctx.receiveEvent(event);
      return { accepted: true, stepPath: ctx.waitingFor(event.signal) ?? '' };
    },
    {
      // Refused before it enters history: a malformed event, or one no step waits for.
      validator: (event) => {
        if (!event || typeof event.signal !== 'string') throw new Error('an event needs a "signal" name');
        if (event.data !== undefined && (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data))) {
          throw new Error('an event\'s "data" must be an object');
        }
        if (!ctx.waitingFor(event.signal)) {
          const waiting = ctx.snapshot().waitingFor;
          throw new Error(
            `no step is waiting for "${event.signal}"${waiting.length ? `; waiting for: ${waiting.join(', ')}` : ''}`,
          );
        }
      },
    },
  );

  wf.setHandler(migrateUpdate, (input) => ctx.requestMigration(input), {
    validator: (input) => {
      const refusal = ctx.refuseMigration(input);
      if (refusal) throw new Error(refusal);
    },
  });

  wf.setHandler(
    decideUpdate,
    (input) => {
      const open = ctx.findApproval(input.step)!;
      const recorded = ctx.recordDecision(open.path, {
        decidedBy: input.by,
        viaKey: input.viaKey,
        decision: input.decision,
        comment: input.comment,
        automatic: false,
      });
      return { accepted: true, stepPath: open.path, sequence: recorded.sequence };
    },
    {
      validator: (input) => {
        if (!input || typeof input.step !== 'string' || typeof input.by !== 'string' || !input.by.trim()) {
          throw new Error('a decision needs "step" and "by"');
        }
        if (input.decision !== 'approve' && input.decision !== 'reject') throw new Error('"decision" must be approve or reject');
        const refusal = ctx.refuseDecision(input);
        if (refusal) throw new Error(refusal);
      },
    },
  );
}
