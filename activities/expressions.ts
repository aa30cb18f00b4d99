/**
 * Expressions evaluated outside the workflow thread: one whose evaluation
 * in a workflow passes the workflow thread's step budgets is evaluated again
 * here, in a local activity, with a larger step limit and a time limit, and
 * its history records the result (workflows/context.ts).
 *
 * The evaluation still runs on the worker's main thread, which also hands
 * workflow tasks to the workflow thread and runs the other activities; so it
 * gives the event loop a turn every {@link TURN_MS} and stops at
 * {@link EXPRESSION_ACTIVITY_TIME_LIMIT_MS} whatever its step count.
 */
import { Context } from '@temporalio/activity';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { evaluateExpression as evaluate, ExpressionError, type ExpressionScope } from '../src/shared/expressions';
import { permanent } from './failures';

/**
 * Evaluation steps one expression may take here, charged as in a workflow.
 * The hostile corpus's cases that stop at this limit take 0.2–2.2 s of CPU to
 * reach it (3–7 µs a step outside the sandbox, against 0.33 ms inside it;
 * process.cpuUsage around each evaluation, on a busy 2-core machine), and an
 * ordinary map over 10,000 items (about 60,000 steps) about 0.4 s.
 */
export const EXPRESSION_ACTIVITY_STEPS = 300_000;
/**
 * Time (ms) one evaluation may hold the worker's main thread here, whatever
 * its steps: what bounds work the steps undercharge outside the sandbox (a
 * `$string` of a long list, built natively, costs far more than a step here).
 */
export const EXPRESSION_ACTIVITY_TIME_LIMIT_MS = 3_000;
/** Longest the evaluation holds the event loop before it gives it a turn. */
const TURN_MS = 5;
/** Steps between two looks at the clock. */
const STEPS_PER_LOOK = 64;

/** What the workflow sends: the expression, and the data its evaluation in the workflow saw. */
export interface ExpressionActivityInput {
  source: string;
  data: ExpressionScope;
}

export function createExpressionActivities() {
  return {
    /**
     * Evaluates an expression the workflow thread's budgets stopped. An
     * expression that fails here (a limit, an error it raises) fails its
     * step for good: `ExpressionFailed`, not retried.
     */
    async evaluateExpression({ source, data }: ExpressionActivityInput): Promise<{ value: unknown }> {
      const signal = activitySignal();
      // Time is counted while the evaluation holds the thread, not while it waits for a turn behind others.
      let held = 0;
      let resumed = performance.now();
      let steps = 0;
      const look = async (): Promise<void> => {
        const now = performance.now();
        if (held + (now - resumed) > EXPRESSION_ACTIVITY_TIME_LIMIT_MS) {
          throw new ExpressionError(
            `expression ran longer than ${EXPRESSION_ACTIVITY_TIME_LIMIT_MS / 1000} s (the time limit of an expression evaluated outside the workflow thread)`,
            source,
          );
        }
        if (now - resumed < TURN_MS) return;
        held += now - resumed;
        await nextTurn();
        if (signal?.aborted) throw signal.reason;
        resumed = performance.now();
      };
      try {
        const value = await evaluate(source, data, {
          guards: () => 'metered',
          outside: {
            steps: EXPRESSION_ACTIVITY_STEPS,
            name: 'the limit of an expression evaluated outside the workflow thread',
            afterStep: () => (++steps % STEPS_PER_LOOK === 0 ? look() : undefined),
          },
        });
        return { value };
      } catch (err) {
        if (err instanceof ExpressionError) throw permanent('ExpressionFailed', err.message);
        throw err;
      }
    },
  };
}

/** The activity's cancellation signal (a local activity's timeout cancels it); none when called outside an activity. */
function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
