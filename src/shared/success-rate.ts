/**
 * The success rate the reports, the CLI and the console show: succeeded runs
 * out of those that **ended on their own** — succeeded, failed or timed out.
 *
 * Cancelled and terminated runs are left out of it and counted beside it: a
 * cancellation is a user's choice (the template catalogue tells users to
 * cancel its samples' waiting runs), a termination an operator's, and
 * neither says whether the definition works. A run that fails after a
 * cancellation request was not cancelled: it counts as failed.
 */
export interface OutcomeCounts {
  succeeded: number;
  failed: number;
  timedOut: number;
}

/** Runs that ended on their own: the success rate's denominator. */
export function concludedRuns(c: OutcomeCounts): number {
  return c.succeeded + c.failed + c.timedOut;
}

/** Succeeded out of concluded runs, to 4 decimals; null when none concluded. */
export function successRate(c: OutcomeCounts): number | null {
  const concluded = concludedRuns(c);
  return concluded > 0 ? Math.round((c.succeeded / concluded) * 10_000) / 10_000 : null;
}
