/**
 * What an expression may do, and the errors that say it did too much: the
 * limits of docs/USER_GUIDE.md ("Limits"), shared by the evaluation
 * (src/shared/expressions.ts), its metering (expression-meter.ts) and the
 * activity that evaluates expressions too large for the workflow thread.
 */

/** Longest expression accepted at save time. @default 2000 characters */
export const MAX_EXPRESSION_LENGTH = 2_000;
/**
 * Work one expression may do, in evaluation steps. One step is one node of
 * the expression evaluated once; what an evaluation builds or scans natively
 * is charged in steps too ({@link ITEMS_PER_STEP}, {@link CHARACTERS_PER_STEP},
 * `$sort`, `$distinct`, `$string` and regular expressions by their cost).
 * Inside a workflow a step costs about 0.33 ms of CPU on a busy 2-core
 * machine (the SDK's promise hook records a stack trace for every promise,
 * and JSONata makes several per step; measured with process.cpuUsage around
 * evaluations in a vm context with the SDK's own hook installed: 0.33–0.37 ms
 * per step for recursion, maps and filters, 13 µs outside it), so this bounds
 * one expression to under a second there.
 */
export const MAX_EVALUATION_STEPS = 2_500;
/**
 * Work all the expressions of one workflow task may do together, in the same
 * steps: about 0.8 s of the workflow thread at the cost above, whatever the
 * definition, so other runs' workflow tasks never queue behind one run's
 * expressions for long.
 */
export const MAX_TASK_STEPS = 2_500;
/**
 * Work one expression may do in the workflow thread of runs started now, in
 * the same steps; an expression past it is evaluated outside the thread
 * instead (activities/expressions.ts). About 70 ms of the thread at the cost
 * above: the worker has one workflow thread, so that is what one hostile
 * expression can make every other run of the worker wait. Runs record it in
 * their settings when they start (`expressionStepsInWorkflow`), so it can
 * change without changing how earlier runs replay; those without it use
 * {@link MAX_EVALUATION_STEPS}. A task's expressions together keep
 * {@link MAX_TASK_STEPS}: a budget per task depends on where tasks begin, which
 * replay sees differently around local activities, so it stays as it was.
 */
export const WORKFLOW_EXPRESSION_STEPS = 200;
/**
 * Work one expression heavy by its shape (it defines a function, or builds a
 * literal range of more than 10,000 items: `heavyShape`) may do in the
 * workflow thread of runs started now, before it is evaluated outside it: a
 * step of such an expression cost the thread 0.5–1.9 ms on a busy machine
 * (100–380 ms for 200), so the same time as {@link WORKFLOW_EXPRESSION_STEPS}
 * takes a quarter of the steps. A small function over a few items fits. Runs
 * record it when they start (`heavyExpressionStepsInWorkflow`).
 */
export const HEAVY_EXPRESSION_STEPS = 50;
/**
 * List items an expression may build for one step of work: building an item
 * costs about 20 ns, a step in a workflow about 0.33 ms.
 */
export const ITEMS_PER_STEP = 10_000;
/** Characters an expression may build or scan for one step of work (10–20 ns each). */
export const CHARACTERS_PER_STEP = 10_000;
/** Characters `$string` may write for one step of work (about 130 ns each: it calls a replacer for every value). */
export const STRING_CHARACTERS_PER_STEP = 2_000;
/** Deepest nesting of evaluation an expression may reach (recursion included). */
export const MAX_EVALUATION_DEPTH = 200;
/** Largest result (as JSON) an expression may produce. @default 1 MiB */
export const MAX_RESULT_BYTES = 1_048_576;
/** Longest string an expression may build on its way to a result. @default 1 Mi characters */
export const MAX_STRING_LENGTH = 1_048_576;
/** Longest sequence (list) an expression may build. */
export const MAX_SEQUENCE_LENGTH = 100_000;

/**
 * The limits of runs that started before metered work (guards `bounded`):
 * steps counted alone, nothing charged for what an evaluation builds.
 */
export const BOUNDED_LIMITS = { expression: 15_000, task: 20_000 } as const;

/** Raised for an expression that does not parse or does not evaluate. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/**
 * An evaluation stopped by a limit of evaluation steps (one expression's or
 * one task's). Inside a workflow such an evaluation may be run again outside
 * the workflow thread ({@link EvaluationOptions.fallback}); the other limits
 * are the same everywhere.
 */
export class StepLimitError extends ExpressionError {
  constructor(
    message: string,
    expression: string,
    /** Whose limit stopped it: the expression's own, or its workflow task's (shared by the task's expressions). */
    readonly limit: 'expression' | 'task' = 'expression',
  ) {
    super(message, expression);
    this.name = 'StepLimitError';
  }
}

/**
 * How an evaluation outside a workflow (activities/expressions.ts) is bounded
 * instead of by the workflow thread's budgets: a larger step limit, and a
 * function called after every step, whose promise (when it returns one) the
 * evaluation waits for, so it can give the event loop a turn or stop at a
 * deadline by throwing.
 */
export interface OutsideLimits {
  /** Evaluation steps one expression may take, charged as in a workflow. */
  steps: number;
  /** What the limit is called in the message of an evaluation that passes it. */
  name: string;
  afterStep(): Promise<void> | undefined;
}

/** The names an expression can see. */
export interface ExpressionScope {
  input: unknown;
  vars: Record<string, unknown>;
  steps: Record<string, { output: unknown; status: string }>;
  run: Record<string, unknown>;
  env?: Record<string, unknown>;
  /** Inside a `foreach`: the current item and its index (and the enclosing loop as `parent`). */
  loop?: { item: unknown; index: number; parent?: unknown };
}

/**
 * Evaluation steps the expressions of one workflow task have taken; a run
 * keeps one and starts it afresh at each new task (workflows/run/scope.ts,
 * `ExpressionBudget.options`). Outside a workflow there is no task, and only the
 * per-expression limit applies.
 */
export interface TaskBudget {
  used: number;
}
