/** Folding report rows into one line per definition (the daily report) or per connection (the deliveries report). */
import { successRate } from '../../src/shared/success-rate';
import type { DailyReport, DeliveriesReport } from './api';

export interface DefinitionTotals {
  runs: number;
  succeeded: number;
  /** Failed or timed out. */
  failed: number;
  /** Cancelled or terminated: stopped by a person, outside the success rate. */
  stopped: number;
  /** Succeeded out of the runs that ended on their own (src/shared/success-rate.ts). */
  successRate: number | null;
  /** The last day a run of it ended. */
  lastDay: string;
}

export function totalsByDefinition(items: DailyReport['items']): Map<string, DefinitionTotals> {
  const totals = new Map<string, DefinitionTotals>();
  for (const r of items) {
    const t = totals.get(r.definitionKey) ?? { runs: 0, succeeded: 0, failed: 0, stopped: 0, successRate: null, lastDay: r.day };
    t.runs += r.runs;
    t.succeeded += r.succeeded;
    t.failed += r.failed + r.timedOut;
    t.stopped += r.cancelled + r.terminated;
    t.successRate = successRate({ succeeded: t.succeeded, failed: t.failed, timedOut: 0 });
    if (r.day > t.lastDay) t.lastDay = r.day;
    totals.set(r.definitionKey, t);
  }
  return totals;
}

/** A connection's deliveries over a report's range, by ledger status, e.g. `{ SENT: 12, FAILED: 1 }`. */
export type StatusCounts = Record<string, number>;

/**
 * The deliveries report's rows (`by=connection`: day × channel × connection ×
 * status) as counts by status per connection; the environment's settings
 * (connection null) are left out.
 */
export function deliveriesByConnection(items: DeliveriesReport['items']): Map<string, StatusCounts> {
  const totals = new Map<string, StatusCounts>();
  for (const r of items) {
    if (!r.connection) continue;
    const counts = totals.get(r.connection) ?? {};
    counts[r.status] = (counts[r.status] ?? 0) + r.deliveries;
    totals.set(r.connection, counts);
  }
  return totals;
}
