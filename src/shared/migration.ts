/**
 * Moving a waiting run onto another version of its definition: what the
 * gateway asks the run, what the run carries into its continuation, and the
 * rule both sides use to find where the run goes on. Workflow-safe.
 *
 * A run can move while it waits at a top-level `approval`, `delay` or
 * `wait_for_signal` step and does nothing else. It continues as new on the
 * other version at the step the waiting one maps to (same id, or the caller's
 * step map): steps before that one in the new version do not run; its
 * variables, the outputs of steps it passed and undelivered events go with it.
 * The wait itself goes on from when it began: a delay ends when it would have
 * on the new duration, an approval keeps its decisions and its timeline.
 */
import type { Definition, Step } from './definition';
import type { ApprovalDecision, DefinitionSnapshot } from './run';

export const MIGRATE_UPDATE = 'migrate';

/** The step types a run can be moved at. */
export const MIGRATABLE_STEP_TYPES = ['approval', 'delay', 'wait_for_signal'] as const;

export function isMigratableStep(step: Step): boolean {
  return (MIGRATABLE_STEP_TYPES as readonly string[]).includes(step.type);
}

/** What the gateway sends a waiting run. */
export interface MigrateInput {
  definition: DefinitionSnapshot;
  /** Old step id → new step id, for steps renamed in the new version. */
  stepMap?: Record<string, string> | undefined;
  by: string;
  reason: string;
}

export interface MigrateReceipt {
  accepted: true;
  fromVersion: number;
  toVersion: number;
  fromStep: string;
  toStep: string;
}

/** What a moved run hands its continuation about the wait it was in. */
export interface MigrationCarry {
  fromVersion: number;
  fromStep: string;
  /** The step of the new version the run goes on at. */
  toStep: string;
  /** When the run began waiting at `fromStep` (ISO 8601): the new wait counts from then. */
  waitingSince: string;
  /** An approval's decisions so far, and how many escalation rungs have run. */
  decisions?: ApprovalDecision[] | undefined;
  escalated?: number | undefined;
  by: string;
  reason: string;
}

/** Where in `target` a run waiting at `fromStep` goes on: the top-level index and step, or why it cannot. */
export function continuationIn(
  target: Definition,
  fromStep: string,
  stepMap: Record<string, string> | undefined,
): { index: number; step: Step } | { refused: string } {
  const toId = stepMap?.[fromStep] ?? fromStep;
  const index = target.steps.findIndex((s) => s.id === toId);
  if (index < 0) {
    const mapped = toId === fromStep ? '' : ` (mapped from "${fromStep}")`;
    return {
      refused: `step "${toId}"${mapped} is not a top-level step of the new version; map the waiting step to one that is (stepMap)`,
    };
  }
  return { index, step: target.steps[index]! };
}
