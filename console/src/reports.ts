/** Folding the daily report's rows (day × definition × version) into one line per definition. */
import type { DailyReport } from './api';

export interface DefinitionTotals {
  runs: number;
  succeeded: number;
  /** Failed or timed out. */
  failed: number;
  /** The last day a run of it ended. */
  lastDay: string;
}

export function totalsByDefinition(items: DailyReport['items']): Map<string, DefinitionTotals> {
  const totals = new Map<string, DefinitionTotals>();
  for (const r of items) {
    const t = totals.get(r.definitionKey) ?? { runs: 0, succeeded: 0, failed: 0, lastDay: r.day };
    t.runs += r.runs;
    t.succeeded += r.succeeded;
    t.failed += r.failed + r.timedOut;
    if (r.day > t.lastDay) t.lastDay = r.day;
    totals.set(r.definitionKey, t);
  }
  return totals;
}
