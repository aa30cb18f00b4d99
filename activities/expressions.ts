/**
 * Expressions evaluated outside the workflow thread: one whose evaluation
 * in a workflow passes the workflow thread's step budgets is evaluated again
 * here, in an activity (a local one for runs recorded before it was an
 * ordinary one), with a larger step limit and a CPU time limit, and its
 * history records the result (workflows/run/scope.ts).
 *
 * The evaluation itself runs in a child process of the worker, at a low
 * CPU priority and one at a time (activities/expression-process.ts), so that
 * a hostile expression holds neither the worker's main thread nor the CPU
 * that other runs need.
 */
import type { ExpressionScope } from '../src/shared/expressions';
import { currentActivity } from './context';
import { EXPRESSION_ACTIVITY_CPU_LIMIT_MS, EXPRESSION_ACTIVITY_STEPS } from './expression-child';
import { EvaluationLost, expressionProcess } from './expression-process';
import { busy, permanent } from './failures';

export { EXPRESSION_ACTIVITY_CPU_LIMIT_MS, EXPRESSION_ACTIVITY_STEPS };

/**
 * Evaluations a worker process holds at once: the one its expression process
 * works on and the one next in line, so the process never idles between two.
 * Each held evaluation keeps one of the worker's activity slots (100 by
 * default) while it waits, and hostile expressions arrive in bursts: queued
 * without a bound, they could take every slot, and emails and HTTP calls
 * would wait behind them. One more is refused at once with `ExpressionsBusy`
 * (retryable), which frees its slot; Temporal tries it again after a backoff,
 * on whichever worker has room. A refusal costs a round trip to the server
 * and no workflow task; waiting here would cost a slot for seconds.
 */
export const EXPRESSION_EVALUATIONS_HELD = 2;

/** What the workflow sends: the expression, and the data its evaluation in the workflow saw. */
export interface ExpressionActivityInput {
  source: string;
  data: ExpressionScope;
}

export function createExpressionActivities(evaluator = expressionProcess, held = EXPRESSION_EVALUATIONS_HELD) {
  return {
    /**
     * Evaluates an expression the workflow thread's budgets stopped. An
     * expression that fails here (a limit, an error it raises) fails its
     * step for good: `ExpressionFailed`, not retried. A worker already
     * holding `held` evaluations answers `ExpressionsBusy`, retried.
     */
    async evaluateExpression({ source, data }: ExpressionActivityInput): Promise<{ value: unknown }> {
      // A local activity (runs recorded before the ordinary one) takes no activity slot, and could not wait for a retry.
      if (evaluator.pending >= held && !isLocal()) {
        // Worded to stand as the step's error too, should no worker have room until the activity's last attempt.
        throw busy('ExpressionsBusy', `no room on the worker for another expression past the workflow thread's limits (a worker holds ${held} at once)`);
      }
      let answer;
      try {
        answer = await evaluator.evaluate(source, data, activitySignal());
      } catch (err) {
        if (err instanceof EvaluationLost && err.memory) throw permanent('ExpressionFailed', err.message);
        throw err;
      }
      if (answer.ok) return { value: answer.value };
      if (answer.expression) throw permanent('ExpressionFailed', answer.message);
      throw new Error(answer.message);
    },
  };
}

/** Whether this is a local activity; false when called outside an activity. */
function isLocal(): boolean {
  return currentActivity()?.info.isLocal ?? false;
}

/** The activity's cancellation signal (a local activity's timeout cancels it); none when called outside an activity. */
function activitySignal(): AbortSignal | undefined {
  return currentActivity()?.cancellationSignal;
}
