/**
 * `npm run checks`: the static checks alone (both type checks, the linter,
 * the console's build), two at a time, one per core. Exits non-zero when any
 * fails, after all have ended, so one run shows every problem.
 *
 *   node --import tsx scripts/checks.ts
 */
import { CONSOLE_BUILD, describeOutcome, runChecks, STATIC_CHECKS, summarizeFailures } from './lib/checks';

const outcomes = await runChecks([...STATIC_CHECKS, CONSOLE_BUILD], {
  lanes: 2,
  onOutcome: (outcome) => process.stdout.write(describeOutcome(outcome)),
});
const failures = summarizeFailures(outcomes);
if (failures) {
  process.stdout.write(failures);
  process.exit(1);
}
