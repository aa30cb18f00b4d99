/**
 * The process that evaluates expressions too large for the workflow thread
 * (activities/expression-process.ts starts it, at a low CPU priority).
 * It takes one evaluation at a time over its IPC channel and answers each;
 * it ends when its worker does.
 */
import { evaluateExpression, ExpressionError, type ExpressionScope } from '../src/shared/expressions';

/**
 * Evaluation steps one expression may take here, charged as in a workflow.
 * The hostile corpus's cases that stop at this limit take 0.2–2.2 s of CPU to
 * reach it (3–7 µs a step outside the sandbox, against 0.33 ms inside it), and
 * an ordinary map over 10,000 items (about 60,000 steps) about 0.4 s.
 */
export const EXPRESSION_ACTIVITY_STEPS = 300_000;
/**
 * CPU time (ms) one evaluation may use here, whatever its steps: what bounds
 * work the steps undercharge outside the sandbox (a `$string` of a long list,
 * built natively, costs far more than a step here). CPU, not wall time, so a
 * busy machine, where this process gets the CPU last, gives the same verdict.
 */
export const EXPRESSION_ACTIVITY_CPU_LIMIT_MS = 3_000;
/** Steps between two looks at the CPU clock. */
const STEPS_PER_LOOK = 64;

export interface EvaluationRequest {
  id: number;
  source: string;
  data: ExpressionScope;
}

export type EvaluationAnswer =
  | { id: number; ok: true; value: unknown }
  /** `expression`: the expression's own failure (a limit, an error it raises); otherwise this process failed. */
  | { id: number; ok: false; expression: boolean; message: string };

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1_000;
}

export async function evaluateHere({ id, source, data }: EvaluationRequest): Promise<EvaluationAnswer> {
  const began = cpuMs();
  let steps = 0;
  try {
    const value = await evaluateExpression(source, data, {
      guards: () => 'metered',
      outside: {
        steps: EXPRESSION_ACTIVITY_STEPS,
        name: 'the limit of an expression evaluated outside the workflow thread',
        afterStep: () => {
          if (++steps % STEPS_PER_LOOK === 0 && cpuMs() - began > EXPRESSION_ACTIVITY_CPU_LIMIT_MS) {
            throw new ExpressionError(
              `expression ran longer than ${EXPRESSION_ACTIVITY_CPU_LIMIT_MS / 1000} s (the time limit of an expression evaluated outside the workflow thread)`,
              source,
            );
          }
          return undefined;
        },
      },
    });
    return { id, ok: true, value };
  } catch (err) {
    const expression = err instanceof ExpressionError;
    return { id, ok: false, expression, message: err instanceof Error ? err.message : String(err) };
  }
}

if (process.send) {
  process.on('message', (request: EvaluationRequest) => {
    void evaluateHere(request).then((answer) => process.send?.(answer));
  });
  // The worker went away (or let this process go): nothing is left to answer.
  process.on('disconnect', () => process.exit(0));
}
