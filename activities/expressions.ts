/**
 * Expressions evaluated outside the workflow thread: one whose evaluation
 * in a workflow passes the workflow thread's step budgets is evaluated again
 * here, in a local activity, with a larger step limit and a CPU time limit,
 * and its history records the result (workflows/context.ts).
 *
 * The evaluation itself runs in a child process of the worker, at a low
 * CPU priority and one at a time (activities/expression-process.ts), so that
 * a hostile expression holds neither the worker's main thread nor the CPU
 * that other runs need.
 */
import { Context } from '@temporalio/activity';
import type { ExpressionScope } from '../src/shared/expressions';
import { EXPRESSION_ACTIVITY_CPU_LIMIT_MS, EXPRESSION_ACTIVITY_STEPS } from './expression-child';
import { EvaluationLost, expressionProcess } from './expression-process';
import { permanent } from './failures';

export { EXPRESSION_ACTIVITY_CPU_LIMIT_MS, EXPRESSION_ACTIVITY_STEPS };

/** What the workflow sends: the expression, and the data its evaluation in the workflow saw. */
export interface ExpressionActivityInput {
  source: string;
  data: ExpressionScope;
}

export function createExpressionActivities(evaluator = expressionProcess) {
  return {
    /**
     * Evaluates an expression the workflow thread's budgets stopped. An
     * expression that fails here (a limit, an error it raises) fails its
     * step for good: `ExpressionFailed`, not retried.
     */
    async evaluateExpression({ source, data }: ExpressionActivityInput): Promise<{ value: unknown }> {
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

/** The activity's cancellation signal (a local activity's timeout cancels it); none when called outside an activity. */
function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
