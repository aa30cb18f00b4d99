/**
 * Moving a run onto another version of its definition while it waits at a
 * top-level step (src/shared/migration.ts): which waiting step it could move
 * from now, whether a move asked for is possible, the move accepted, and the
 * wait the run takes over from the version it moved from.
 */
import type * as wf from '@temporalio/workflow';
import type { Step } from '../../src/shared/definition';
import { continuationIn, type MigrateInput, type MigrateReceipt, type MigrationCarry } from '../../src/shared/migration';
import type { RunInput } from '../../src/shared/run';
import { type Journal, now } from './journal';
import type { Waits } from './waits';

/** A move asked for and accepted: the version it goes to, the top-level step it goes on at, what it carries. */
export interface AcceptedMove {
  input: MigrateInput;
  index: number;
  carry: MigrationCarry;
}

/** What a waiting step asks of moves: the wait it takes over, and when its own wait began. */
export interface MovableWait {
  /**
   * The wait a top-level step takes over from the version the run moved
   * from, once: set when this step is the one the waiting step maps to.
   */
  resumedWait(path: string, step: Step): MigrationCarry | undefined;
  /** A waiting step began to wait at `since` (epoch ms); a move carries it to the new version. */
  waitBegan(path: string, since: number): void;
}

export class Moves {
  /** The top-level waiting step running now that the run could move away from, with the scope that ends it. */
  private movable: { path: string; step: Step; scope: wf.CancellationScope } | undefined;
  /** Why the top-level step running now cannot move (it began waiting before runs could), if so. */
  private immovable: string | undefined;
  /** A move onto another definition version, asked for and accepted: where the run goes on. */
  private accepted: AcceptedMove | undefined;
  /** The wait this run took over from the version it moved from, until the step it maps to takes it up. */
  private carried: MigrationCarry | undefined;
  /** When each waiting step began to wait (workflow time, epoch ms), by path. */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    private readonly input: RunInput,
    private readonly journal: Journal,
    private readonly waits: Pick<Waits, 'approvalAt'>,
  ) {}

  /** The run was continued to move here, carrying the wait of the step it moved from. */
  restore(carried: MigrationCarry): void {
    this.carried = carried;
  }

  /** As {@link MovableWait.resumedWait}; `topLevel` when the step is not inside a loop iteration. */
  resumedWait(path: string, step: Step, topLevel: boolean): MigrationCarry | undefined {
    const carried = this.carried;
    if (!carried || !topLevel || path !== step.id || carried.toStep !== step.id) return undefined;
    this.carried = undefined;
    return carried;
  }

  waitBegan(path: string, since: number): void {
    this.waitingSince.set(path, since);
  }

  /** A top-level waiting step the run could move away from is running in `scope`. */
  enterMovable(path: string, step: Step, scope: wf.CancellationScope | undefined, immovable?: string): void {
    this.movable = scope ? { path, step, scope } : undefined;
    this.immovable = scope ? undefined : immovable;
  }

  leaveMovable(): void {
    this.movable = undefined;
    this.immovable = undefined;
  }

  /** The move asked for and accepted, if any. */
  get migration(): AcceptedMove | undefined {
    return this.accepted;
  }

  /** The path the run could move from now, if its step waits there. */
  movableAt(): string | undefined {
    return this.movable && this.journal.steps.get(this.movable.path)?.status === 'WAITING' ? this.movable.path : undefined;
  }

  /** Why the run cannot move as `input` asks, or undefined when it can. */
  refuseMigration(input: MigrateInput): string | undefined {
    if (!input || typeof input !== 'object' || !input.definition?.document || !Array.isArray(input.definition.document.steps)) {
      return 'a move needs the definition version to move to';
    }
    if (typeof input.by !== 'string' || !input.by.trim() || typeof input.reason !== 'string' || !input.reason.trim()) {
      return 'a move needs "by" and "reason"';
    }
    if (this.input.chunk) return 'a slice of a foreach does not move on its own; move the run that owns it';
    const current = this.input.definition;
    if (input.definition.id !== current.id) return `the run executes definition ${current.id}, not ${input.definition.id}`;
    if (input.definition.version === current.version) return `the run is already on version ${current.version}`;
    if (this.accepted) return `the run is already moving to version ${this.accepted.input.definition.version}`;
    if (this.journal.status !== 'RUNNING') return `the run is ${this.journal.status}`;
    const movable = this.movable;
    if (!movable) {
      if (this.immovable) return this.immovable;
      const at = this.journal.currentSteps();
      return `the run is not waiting at a top-level approval, delay or wait_for_signal step${at.length ? ` (it is at ${at.join(', ')})` : ''}`;
    }
    const busy = this.journal.currentSteps().filter((p) => p !== movable.path);
    if (busy.length > 0 || this.journal.steps.get(movable.path)?.status !== 'WAITING') {
      return `step "${movable.path}" is busy (${busy.join(', ') || 'not waiting yet'}); ask again once it waits`;
    }
    const target = continuationIn(input.definition.document, movable.step.id, input.stepMap);
    return 'refused' in target ? target.refused : undefined;
  }

  /** Accepts a move (refuseMigration said yes) and ends the waiting step's wait, so the run can continue on the new version. */
  requestMigration(input: MigrateInput): MigrateReceipt {
    const movable = this.movable!;
    const target = continuationIn(input.definition.document, movable.step.id, input.stepMap);
    if ('refused' in target) throw new Error(target.refused);
    const approval = this.waits.approvalAt(movable.path);
    const since = this.waitingSince.get(movable.path) ?? Date.parse(this.journal.steps.get(movable.path)?.startedAt ?? now());
    const carry: MigrationCarry = {
      fromVersion: this.input.definition.version,
      fromStep: movable.step.id,
      toStep: target.step.id,
      waitingSince: new Date(since).toISOString(),
      ...(approval && target.step.type === 'approval' ? { decisions: [...approval.decisions], escalated: approval.escalated } : {}),
      by: input.by,
      reason: input.reason,
    };
    this.accepted = { input, index: target.index, carry };
    movable.scope.cancel();
    return { accepted: true, fromVersion: carry.fromVersion, toVersion: input.definition.version, fromStep: carry.fromStep, toStep: carry.toStep };
  }

  /** The waiting step the run moves away from: logged MIGRATED, and not carried (the new version's step takes its place). */
  stepMoved(path: string, step: Step, carry: MigrationCarry, toVersion: number): void {
    this.journal.moved(path, step, `moved to version ${toVersion} at step "${carry.toStep}" by ${carry.by}: ${carry.reason}`);
    this.waitingSince.delete(path);
  }
}
