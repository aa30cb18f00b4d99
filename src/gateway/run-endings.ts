/**
 * Requests waiting for a run to end (`GET /api/executions/{id}?wait=30s`),
 * so a caller learns a run's outcome in one request instead of asking again
 * and again (each read of an open run also asks the workflow for its live
 * state: a round trip through Temporal and the worker).
 *
 * A waiter wakes on Postgres's notice that the run's mirror row reached a
 * final status (db/change-feed.ts with `runEndings`, migration
 * 2026-12-07T13), whoever wrote it. In case a notice is lost (the feed not
 * listening for a while, or switched off), the waited rows are also read in
 * one statement every few seconds, and twice a second while no notices come.
 */
import type { Kysely } from 'kysely';
import type { ChangeFeed } from '../../db/change-feed';
import type { Database } from '../../db/schema';
import { TERMINAL_STATUSES } from '../shared/status';

/** The longest a request may wait for a run to end: below the idle timeouts of common proxies and load balancers. */
export const MAX_WAIT_MS = 60_000;
/** How often the waited rows are read while notices arrive: a notice lost anyway is seen within this. */
const SWEEP_WHILE_LISTENING_MS = 5_000;
/** How often they are read while no notices come (the feed off, or reconnecting). */
const SWEEP_WITHOUT_NOTICES_MS = 500;
/** Rows read per statement of a sweep. */
const SWEEP_CHUNK = 1_000;

export interface RunEndings {
  /**
   * Resolves once the run's mirror row is final, after `ms`, or when `signal`
   * aborts, whichever comes first; never rejects. Register before reading
   * the row, so an ending between the read and the wait is not missed.
   */
  waitFor(executionId: string, ms: number, signal?: AbortSignal): Promise<void>;
  /** How many requests wait now. */
  readonly waiting: number;
  close(): void;
}

export function createRunEndings(db: Kysely<Database>, feed: ChangeFeed | undefined): RunEndings {
  const waiters = new Map<string, Set<() => void>>();
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping = false;
  let closed = false;

  const wake = (executionId: string) => {
    const set = waiters.get(executionId);
    if (!set) return;
    waiters.delete(executionId);
    for (const done of set) done();
  };

  const sweep = async () => {
    sweepTimer = undefined;
    if (sweeping || closed) return;
    sweeping = true;
    try {
      const ids = [...waiters.keys()];
      for (let i = 0; i < ids.length; i += SWEEP_CHUNK) {
        const rows = await db
          .selectFrom('workflow_executions')
          .select('id')
          .where('id', 'in', ids.slice(i, i + SWEEP_CHUNK))
          .where('status', 'in', TERMINAL_STATUSES)
          .execute();
        for (const row of rows) wake(row.id);
      }
    } catch {
      // Postgres away: the waiters wait on, to their deadlines; the next sweep tries again.
    } finally {
      sweeping = false;
      schedule();
    }
  };

  const schedule = () => {
    if (sweepTimer || closed || waiters.size === 0) return;
    sweepTimer = setTimeout(() => void sweep(), feed?.runEndings && feed.listening ? SWEEP_WHILE_LISTENING_MS : SWEEP_WITHOUT_NOTICES_MS);
    sweepTimer.unref();
  };

  const unsubscribeEnded = feed?.onRunEnded(wake);
  // The feed (re)started or stopped listening: notices may have been missed, so look now.
  const unsubscribeChanges = feed?.subscribe((table) => {
    if (table !== undefined || waiters.size === 0) return;
    if (sweepTimer) clearTimeout(sweepTimer);
    void sweep();
  });

  return {
    waitFor(executionId, ms, signal) {
      if (closed || signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let set = waiters.get(executionId);
        if (!set) waiters.set(executionId, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          const current = waiters.get(executionId);
          current?.delete(done);
          if (current?.size === 0) waiters.delete(executionId);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', done, { once: true });
        set.add(done);
        schedule();
      });
    },
    get waiting() {
      let n = 0;
      for (const set of waiters.values()) n += set.size;
      return n;
    },
    close() {
      closed = true;
      if (sweepTimer) clearTimeout(sweepTimer);
      unsubscribeEnded?.();
      unsubscribeChanges?.();
      for (const id of [...waiters.keys()]) wake(id);
    },
  };
}
