/**
 * What a run waits for from outside: decisions at its open `approval` steps
 * and events for its `wait_for_signal` steps. The updates that bring them are
 * validated here (a decision by someone who may not decide, an event nobody
 * waits for, is refused before it enters history); decisions go to the
 * journal, to be written to the mirror.
 */
import type { ApprovalStep } from '../../src/shared/definition';
import type { MigrationCarry } from '../../src/shared/migration';
import { roleAtLeast } from '../../src/shared/roles';
import type { ApprovalDecision, DecisionInput, RunEvent, RunState } from '../../src/shared/run';
import { now } from './journal';

export interface OpenApproval {
  path: string;
  step: ApprovalStep;
  decisions: ApprovalDecision[];
  /** How many of the escalation ladder's rungs have run. */
  escalated: number;
}

/** An event as the run keeps it until its step takes it. */
export type ReceivedEvent = RunEvent & { receivedAt: string };

/** What an `approval` step asks of the run's waits. */
export interface ApprovalWaits {
  openApproval(path: string, step: ApprovalStep, carried?: MigrationCarry): OpenApproval;
  closeApproval(path: string): void;
  recordDecision(path: string, decision: Omit<ApprovalDecision, 'stepPath' | 'sequence' | 'at'>): ApprovalDecision;
}

/** What a `wait_for_signal` step asks of the run's waits. */
export interface EventWaits {
  awaitEvent(signal: string, path: string): void;
  stopAwaiting(signal: string): void;
  hasEvent(signal: string): boolean;
  takeEvent(signal: string): ReceivedEvent | undefined;
}

export class Waits implements ApprovalWaits, EventWaits {
  /** Open approval steps by path. */
  private readonly approvals = new Map<string, OpenApproval>();
  /** Signal name → path of the step waiting for it. */
  private readonly awaiting = new Map<string, string>();
  private readonly events = new Map<string, ReceivedEvent[]>();

  /** @param decisions where a decision goes to be written to the mirror (the journal) */
  constructor(private readonly decisions: { queueDecision(decision: ApprovalDecision): void }) {}

  openApproval(path: string, step: ApprovalStep, carried?: MigrationCarry): OpenApproval {
    const open: OpenApproval = { path, step, decisions: carried?.decisions ?? [], escalated: carried?.escalated ?? 0 };
    this.approvals.set(path, open);
    return open;
  }

  closeApproval(path: string): void {
    this.approvals.delete(path);
  }

  /** The open approval at `path`, if any. */
  approvalAt(path: string): OpenApproval | undefined {
    return this.approvals.get(path);
  }

  /** The open approval a decision names, by path or (when unambiguous) by step id. */
  findApproval(step: string): OpenApproval | undefined {
    const byPath = this.approvals.get(step);
    if (byPath) return byPath;
    const byId = [...this.approvals.values()].filter((a) => a.step.id === step);
    return byId.length === 1 ? byId[0] : undefined;
  }

  /** Why a decision cannot be taken, or undefined when it can. */
  refuseDecision(input: DecisionInput): string | undefined {
    const open = this.findApproval(input.step);
    if (!open) {
      const waiting = [...this.approvals.keys()];
      return `no approval step "${input.step}" is waiting${waiting.length ? `; waiting: ${waiting.join(', ')}` : ''}`;
    }
    const { step } = open;
    const by = input.by.trim().toLowerCase();
    const named = step.approvers?.some((a) => a.toLowerCase() === by) ?? false;
    const byRole = step.role !== undefined && input.role !== undefined && roleAtLeast(input.role, step.role);
    if (!named && !byRole) {
      return step.approvers
        ? `"${input.by}" may not decide step "${step.id}"; approvers: ${step.approvers.join(', ')}`
        : `step "${step.id}" needs a decider with role ${step.role} or higher`;
    }
    if (open.decisions.some((d) => d.decidedBy.toLowerCase() === by)) return `"${input.by}" has already decided step "${step.id}"`;
    return undefined;
  }

  recordDecision(path: string, decision: Omit<ApprovalDecision, 'stepPath' | 'sequence' | 'at'>): ApprovalDecision {
    const open = this.approvals.get(path);
    const recorded: ApprovalDecision = { ...decision, stepPath: path, sequence: (open?.decisions.length ?? 0) + 1, at: now() };
    open?.decisions.push(recorded);
    this.decisions.queueDecision(recorded);
    return recorded;
  }

  /** The open approvals as the run's state shows them. */
  approvalStates(): RunState['approvals'] {
    return [...this.approvals.values()].map((a) => ({
      stepPath: a.path,
      approvers: a.step.approvers ?? null,
      role: a.step.role ?? null,
      required: a.step.required ?? 1,
      decisions: a.decisions,
    }));
  }

  awaitEvent(signal: string, path: string): void {
    this.awaiting.set(signal, path);
  }

  stopAwaiting(signal: string): void {
    this.awaiting.delete(signal);
  }

  /** The step path waiting for `signal`, if any: events for nobody are refused. */
  waitingFor(signal: string): string | undefined {
    return this.awaiting.get(signal);
  }

  /** The signals steps wait for now. */
  awaitedSignals(): string[] {
    return [...this.awaiting.keys()];
  }

  receiveEvent(event: RunEvent): void {
    const queue = this.events.get(event.signal) ?? [];
    queue.push({ ...event, receivedAt: now() });
    this.events.set(event.signal, queue);
  }

  hasEvent(signal: string): boolean {
    return (this.events.get(signal)?.length ?? 0) > 0;
  }

  takeEvent(signal: string): ReceivedEvent | undefined {
    return this.events.get(signal)?.shift();
  }

  /** Events no step has taken yet, by signal: what a continuation carries. */
  undeliveredEvents(): [string, ReceivedEvent[]][] {
    return [...this.events.entries()].filter(([, queue]) => queue.length > 0);
  }

  /** Takes up the events an earlier run of the execution carried over. */
  restoreEvents(events: [string, ReceivedEvent[]][]): void {
    for (const [signal, queue] of events) this.events.set(signal, queue);
  }
}
