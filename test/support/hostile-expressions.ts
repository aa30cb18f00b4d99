/** The corpus of hostile expressions (test/fixtures/hostile-expressions.json), for the unit and the integration test. */
import { readFileSync } from 'node:fs';

export interface HostileExpression {
  name: string;
  expression: string;
  /** Refused when a definition is saved, fails its step, or evaluates harmlessly. */
  outcome: 'refused' | 'fails' | 'ok';
  /** For 'refused' and 'fails': a pattern the message matches. */
  error?: string;
  /** For 'ok': the value, or '__string__' / '__object__' for any string or unpolluted object. */
  result?: unknown;
  /** In a run, where the entry is evaluated again outside the workflow thread and ends otherwise: how. @default outcome */
  runOutcome?: 'fails' | 'ok';
  /** In a run: the pattern the message matches, where it differs from `error`. */
  runError?: string;
  /** In a run: the value, where it differs from `result`. */
  runResult?: unknown;
}

/** How an entry ends in a run, where expressions the workflow thread's budgets stop are evaluated again in an activity. */
export function inRun(entry: HostileExpression): Pick<HostileExpression, 'outcome' | 'error' | 'result'> {
  return {
    outcome: entry.runOutcome ?? entry.outcome,
    error: entry.runError ?? entry.error,
    result: entry.runResult ?? entry.result,
  };
}

export const HOSTILE: HostileExpression[] = JSON.parse(readFileSync(new URL('../fixtures/hostile-expressions.json', import.meta.url), 'utf8')).expressions;

/** Whether a value is what an 'ok' entry promises. */
export function matchesResult(value: unknown, expected: unknown): boolean {
  if (expected === '__string__') return typeof value === 'string';
  if (expected === '__object__') return typeof value === 'object' && value !== null && !JSON.stringify(value).includes('"polluted":"yes"}}');
  return JSON.stringify(value) === JSON.stringify(expected ?? undefined);
}
