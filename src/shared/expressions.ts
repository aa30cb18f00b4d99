/**
 * JSONata expressions and `{{ … }}` templates, evaluated the same way in the
 * workflow (deterministically) and in the gateway (validation at save time).
 *
 * Hardening: expressions see prototype-free copies of the data, `$eval` is
 * switched off, regular expressions run in linear time, and every evaluation
 * has budgets of evaluation steps (its own and its workflow task's), nesting
 * depth, string and list sizes — counts, not a clock, so replay reaches the
 * same verdict. docs/USER_GUIDE.md ("Limits") lists them.
 */
import jsonata from 'jsonata';
import { EXIT_HOOK, type JsonataFunction, jsonataBuiltins } from './jsonata-builtins';
import { LinearRegExp, linearRegExpProblem } from './linear-regexp';

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
const BOUNDED_LIMITS = { expression: 15_000, task: 20_000 } as const;

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
 * keeps one and starts it afresh at each new task (workflows/context.ts,
 * `evaluationOptions`). Outside a workflow there is no task, and only the
 * per-expression limit applies.
 */
export interface TaskBudget {
  used: number;
}

const DISABLED_FUNCTIONS = ['eval'] as const;

/** Compiled expressions by source, guarded as runs before the bounded guards were (see {@link EvaluationOptions.legacyGuards}). */
const legacyCache = new Map<string, jsonata.Expression>();
const cache = new Map<string, jsonata.Expression>();
const CACHE_LIMIT = 2_000;

const ENTRY_HOOK = Symbol.for('jsonata.__evaluate_entry');
/** The binding that carries an evaluation's counters: a name with a space, which no expression can spell. */
const COUNTERS = 'wfa counters';

/** Per-evaluation counters of the legacy guard live on JSONata's execution frame (`environment.base`). */
interface Frame {
  base: { wfaSteps?: number; wfaCounters?: Counters };
  lookup(name: string): unknown;
}

/**
 * How an evaluation is guarded: `metered` (new runs, the gateway) charges
 * steps and what it builds against {@link MAX_EVALUATION_STEPS} and
 * {@link MAX_TASK_STEPS}; `bounded` counts steps alone, against the larger
 * limits runs started with before; `legacy` as runs before any bounded guard.
 */
export type Guards = 'legacy' | 'bounded' | 'metered';

/** What one evaluation has used, and the task it belongs to. */
interface Counters {
  steps: number;
  task: TaskBudget | undefined;
  metered: boolean;
  source: string;
  /** Outside a workflow: the limits in place of the workflow thread's. */
  outside?: OutsideLimits | undefined;
  /** Steps of one expression, in place of {@link MAX_EVALUATION_STEPS}. */
  budget?: number | undefined;
}

/**
 * Charges `cost` steps to an evaluation and its task; throws when either
 * passes its limit. `what` names a single large charge (a `$sort` of many
 * items) so the message says what reached the limit.
 */
function charge(counters: Counters, cost: number, what?: string): void {
  const limits = counters.metered
    ? { expression: counters.outside?.steps ?? counters.budget ?? MAX_EVALUATION_STEPS, task: MAX_TASK_STEPS }
    : BOUNDED_LIMITS;
  const by = what ? ` (${what} alone costs ${Math.ceil(cost)})` : '';
  counters.steps += cost;
  if (counters.steps > limits.expression) {
    const limit = counters.outside?.name ?? 'the limit of one expression';
    throw new StepLimitError(`expression took more than ${limits.expression} evaluation steps (${limit})${by}`, counters.source);
  }
  if (counters.task && (counters.task.used += cost) > limits.task) {
    throw new StepLimitError(
      `expressions took more than ${limits.task} evaluation steps in one workflow task (the limit of one task; split the work over steps that wait, or a foreach)${by}`,
      counters.source,
      'task',
    );
  }
}

/** Steps charged for a list or a string a node built, beyond the step itself. */
function builtCost(result: unknown): number {
  if (typeof result === 'string') return result.length / CHARACTERS_PER_STEP;
  if (Array.isArray(result)) return result.length / ITEMS_PER_STEP;
  return 0;
}

/**
 * Compiles (and caches) an expression as new runs and the gateway evaluate
 * it: every evaluation step counted against the expression's and the task's
 * budgets (with what it builds, under metered guards), every string and list
 * it builds bounded, regular expressions run by a linear-time engine. Throws
 * {@link ExpressionError} when it does not parse, or when it is bound to
 * exceed a limit whatever the data (a literal range or padding too large, a
 * regular expression the engine refuses).
 */
export function compileExpression(source: string): jsonata.Expression {
  const cached = cache.get(source);
  if (cached) return cached;
  const compiled = parse(source, { RegexEngine: LinearRegExp });
  checkStatically(compiled.ast(), source);
  for (const [name, guarded] of Object.entries(guardedFunctions())) compiled.assign(name, guarded);
  // JSONata looks hooks up by symbol; its typings only know strings.
  compiled.assign(EXIT_HOOK as unknown as string, (node: { type: string }, _input: unknown, frame: Frame, result: unknown) => {
    const counters = (frame.base.wfaCounters ??= frame.lookup(COUNTERS) as Counters);
    const built = !READS.has(node.type);
    charge(counters, counters.metered && built ? 1 + builtCost(result) : 1);
    if (built) checkBuilt(result, source);
    return counters.outside?.afterStep();
  });
  return remember(cache, source, compiled);
}

/**
 * Compiles an expression guarded as it was for runs recorded before the
 * bounded guards: a step budget counted on entry, V8's regular expressions.
 * Those runs replay with it exactly as they ran.
 */
function compileLegacyExpression(source: string): jsonata.Expression {
  const cached = legacyCache.get(source);
  if (cached) return cached;
  const compiled = parse(source);
  const limit = 100_000;
  compiled.assign(ENTRY_HOOK as unknown as string, (_node: unknown, _input: unknown, frame: Frame) => {
    const steps = (frame.base.wfaSteps ?? 0) + 1;
    frame.base.wfaSteps = steps;
    if (steps > limit) throw new ExpressionError(`expression took more than ${limit} evaluation steps`, source);
  });
  return remember(legacyCache, source, compiled);
}

function parse(source: string, options: { RegexEngine?: typeof LinearRegExp } = {}): jsonata.Expression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, source);
  }
  let compiled: jsonata.Expression;
  try {
    // `stack` bounds nesting, `sequence` the ranges and appends JSONata checks
    // itself. JSONata's own `timeout` reads the clock, which stands still
    // inside a workflow activation, so step budgets bound time instead.
    compiled = jsonata(source, { stack: MAX_EVALUATION_DEPTH, sequence: MAX_SEQUENCE_LENGTH, ...options } as unknown as Parameters<typeof jsonata>[1]);
  } catch (err) {
    throw new ExpressionError(`expression does not parse: ${describeJsonataError(err)}`, source);
  }
  for (const name of DISABLED_FUNCTIONS) {
    compiled.registerFunction(name, () => {
      throw new ExpressionError(`$${name} is not available in expressions`, source);
    });
  }
  return compiled;
}

function remember(into: Map<string, jsonata.Expression>, source: string, compiled: jsonata.Expression): jsonata.Expression {
  if (into.size >= CACHE_LIMIT) into.clear();
  into.set(source, compiled);
  return compiled;
}

/** Syntax nodes that give back what the data holds, not something they built: a large trigger field is no blow-up. */
const READS = new Set(['name', 'variable', 'path', 'string']);

/** Stops an evaluation at a string or a list over the limits, as soon as one is built. */
function checkBuilt(result: unknown, source: string): void {
  if (typeof result === 'string' && result.length > MAX_STRING_LENGTH) {
    throw new ExpressionError(`expression built a string longer than ${MAX_STRING_LENGTH} characters`, source);
  }
  if (Array.isArray(result) && result.length > MAX_SEQUENCE_LENGTH) {
    throw new ExpressionError(`expression built a list longer than ${MAX_SEQUENCE_LENGTH} items`, source);
  }
}

/** A JSONata function value, as JSONata binds its built-ins. */
/** What JSONata passes a built-in as `this`: the calling evaluation's frame among others. */
interface Focus {
  environment: { lookup(name: string): unknown };
}

/** The metered evaluation calling a built-in, if it is one. */
function meteredCaller(focus: unknown): Counters | undefined {
  const counters = (focus as Focus | undefined)?.environment?.lookup(COUNTERS) as Counters | undefined;
  return counters?.metered ? counters : undefined;
}

/** A built-in whose arguments are charged for before it runs (metered evaluations only). */
function chargedBefore(fn: JsonataFunction, cost: (args: unknown[]) => { steps: number; what: string } | undefined): JsonataFunction {
  return {
    ...fn,
    implementation(this: unknown, ...args: unknown[]) {
      const counters = meteredCaller(this);
      const due = counters && cost(args);
      if (counters && due) charge(counters, due.steps, due.what);
      return fn.implementation.apply(this, args);
    },
  };
}

/**
 * A higher-order built-in whose function argument (at `at`) is charged a
 * step for every call: `$map(list, $string)` calls `$string` without
 * evaluating a node, yet inside a workflow each call costs a few promises.
 * (JSONata hands a built-in every function argument as an async closure
 * with an `arity`; the charging closure keeps it.)
 */
function chargingCalls(fn: JsonataFunction, at = 1): JsonataFunction {
  return {
    ...fn,
    implementation(this: unknown, ...args: unknown[]) {
      const counters = meteredCaller(this);
      const callee = args[at] as ((this: unknown, ...p: unknown[]) => unknown) & { arity?: number };
      if (counters && typeof callee === 'function') {
        const charged = function (this: unknown, ...params: unknown[]) {
          charge(counters, 1);
          return callee.apply(this, params);
        };
        args[at] = Object.assign(charged, { arity: callee.arity });
      }
      return fn.implementation.apply(this, args);
    },
  };
}

interface MatchResult {
  end?: number;
  next?: () => Matched;
}
type Matched = MatchResult | undefined | Promise<MatchResult | undefined>;

/**
 * A regular expression's matcher (argument `at` of `$match`, `$replace`,
 * `$split`, `$contains`) that charges each search: one step, and the
 * characters it may scan. JSONata awaits every match, so inside a workflow
 * each one costs about a step; a pattern that matches every character of a
 * long string is many thousands of them.
 */
function meteredMatcher(fn: JsonataFunction, at: number): JsonataFunction {
  return {
    ...fn,
    implementation(this: unknown, ...args: unknown[]) {
      const counters = meteredCaller(this);
      const matcher = args[at];
      if (counters && typeof matcher === 'function') {
        const search = (text: string, from: number) => charge(counters, 1 + Math.max(0, text.length - from) / CHARACTERS_PER_STEP);
        // JSONata hands a built-in its function arguments wrapped, so a match may come as a promise.
        const follow = (text: string, found: Matched): Matched => {
          if (found instanceof Promise) return found.then((settled: MatchResult | undefined) => follow(text, settled));
          if (found && typeof found.next === 'function') {
            const next = found.next.bind(found);
            found.next = () => {
              search(text, found.end ?? 0);
              return follow(text, next());
            };
          }
          return found;
        };
        args[at] = function (this: unknown, text: unknown, from?: number) {
          if (typeof text === 'string') search(text, from ?? 0);
          const found = (matcher as (this: unknown, t: unknown, f?: number) => Matched).call(this, text, from);
          return typeof text === 'string' ? follow(text, found) : found;
        };
      }
      return fn.implementation.apply(this, args);
    },
  };
}

/**
 * Built-ins guarded before they run. `$pad` and `$join` could build a huge
 * string from small arguments (`$pad("", 1e9)` would allocate a gigabyte
 * first). Under metered guards, the ones whose cost is not in the steps or
 * the size of their result are charged for it: `$sort` (JSONata's merge
 * sort awaits every comparison and copies the rest of the list at each, so
 * n·log₂n steps and n²/2 items copied), `$distinct` (n²/2 comparisons),
 * `$string` (per character it writes) and the regular-expression functions
 * (per search).
 */
function guardedFunctions(): Record<string, JsonataFunction> {
  return (guarded ??= makeGuardedFunctions(jsonataBuiltins()));
}

/** Made when an expression is first compiled (src/shared/jsonata-builtins.ts says why not at load). */
let guarded: Record<string, JsonataFunction> | undefined;

function makeGuardedFunctions(builtins: ReturnType<typeof jsonataBuiltins>): Record<string, JsonataFunction> {
  const pad = builtins.pad;
  const join = builtins.join;
  const string = builtins.string;
  const tooLong = (what: string) => new ExpressionError(`${what} would build a string longer than ${MAX_STRING_LENGTH} characters`, '');
  const listLength = (list: unknown) => (Array.isArray(list) ? list.length : 0);
  return {
    pad: {
      ...pad,
      implementation(this: unknown, ...args: unknown[]) {
        const width = args[1];
        if (typeof width === 'number' && Math.abs(width) > MAX_STRING_LENGTH) throw tooLong('$pad');
        return pad.implementation.apply(this, args);
      },
    },
    join: {
      ...join,
      implementation(this: unknown, ...args: unknown[]) {
        const [strings, separator] = args;
        if (Array.isArray(strings)) {
          const gap = typeof separator === 'string' ? separator.length : 0;
          let length = 0;
          for (const s of strings) {
            length += (typeof s === 'string' ? s.length : 0) + gap;
            if (length > MAX_STRING_LENGTH + gap) throw tooLong('$join');
          }
        }
        return join.implementation.apply(this, args);
      },
    },
    map: chargingCalls(builtins.map),
    filter: chargingCalls(builtins.filter),
    single: chargingCalls(builtins.single),
    reduce: chargingCalls(builtins.reduce),
    sift: chargingCalls(builtins.sift),
    each: chargingCalls(builtins.each),
    sort: chargingCalls(chargedBefore(builtins.sort, ([list]) => {
      const n = listLength(list);
      return n > 1 ? { steps: n * Math.ceil(Math.log2(n)) + (n * n) / 2 / ITEMS_PER_STEP, what: `$sort of ${n} items` } : undefined;
    })),
    distinct: chargedBefore(builtins.distinct, ([list]) => {
      const n = listLength(list);
      return n > 1 ? { steps: (n * n) / 2 / ITEMS_PER_STEP, what: `$distinct of ${n} items` } : undefined;
    }),
    string: {
      ...string,
      implementation(this: unknown, ...args: unknown[]) {
        const text = string.implementation.apply(this, args);
        const counters = meteredCaller(this);
        if (counters && typeof text === 'string') charge(counters, text.length / STRING_CHARACTERS_PER_STEP, `$string of ${text.length} characters`);
        return text;
      },
    },
    match: meteredMatcher(builtins.match, 1),
    replace: meteredMatcher(builtins.replace, 1),
    split: meteredMatcher(builtins.split, 1),
    contains: meteredMatcher(builtins.contains, 1),
  };
}

interface SyntaxNode {
  type?: string;
  value?: unknown;
  lhs?: SyntaxNode;
  rhs?: SyntaxNode;
  procedure?: SyntaxNode;
  arguments?: SyntaxNode[];
}

/**
 * Refuses, before any run, what is bound to exceed a limit whatever the data:
 * a regular expression the linear-time engine cannot run, a literal range
 * longer than the list limit, a literal `$pad` width past the string limit.
 */
function checkStatically(root: unknown, source: string): void {
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== 'object') return;
    const node = value as SyntaxNode;
    if (node.type === 'regex' && node.value instanceof RegExp) {
      const problem = linearRegExpProblem(node.value);
      if (problem) throw new ExpressionError(`regular expression /${node.value.source}/ cannot be used: ${problem} (backreferences and lookaround are not supported)`, source);
    }
    if (node.type === 'binary' && node.value === '..' && node.lhs?.type === 'number' && node.rhs?.type === 'number') {
      const size = Number(node.rhs.value) - Number(node.lhs.value) + 1;
      if (size > MAX_SEQUENCE_LENGTH) throw new ExpressionError(`range [${String(node.lhs.value)}..${String(node.rhs.value)}] is longer than ${MAX_SEQUENCE_LENGTH} items`, source);
    }
    if (node.type === 'function' && node.procedure?.type === 'variable' && node.procedure.value === 'pad') {
      const width = node.arguments?.[1];
      if (width?.type === 'number' && Math.abs(Number(width.value)) > MAX_STRING_LENGTH) {
        throw new ExpressionError(`$pad width ${String(width.value)} is more than ${MAX_STRING_LENGTH} characters`, source);
      }
      if (width?.type === 'unary' && width.value === '-' && (width as { expression?: SyntaxNode }).expression?.type === 'number') {
        const n = Number((width as { expression?: SyntaxNode }).expression!.value);
        if (n > MAX_STRING_LENGTH) throw new ExpressionError(`$pad width -${n} is more than ${MAX_STRING_LENGTH} characters`, source);
      }
    }
    for (const child of Object.values(node)) if (child && typeof child === 'object') visit(child);
  };
  visit(root);
}

/** How expressions are evaluated. */
export interface EvaluationOptions {
  /**
   * Answers plain property paths by walking the scope ({@link lookupPlainPath})
   * instead of through JSONata. The results are the same, but an evaluation
   * takes fewer microtask turns, which can change the order in which
   * concurrent branches of a workflow issue commands: a run uses it only if it
   * started with it. @default false
   */
  fastPaths?: boolean | undefined;
  /**
   * Also answers a plain path compared with a literal ({@link compareWithLiteral})
   * without JSONata; same results, fewer turns again, so likewise only for
   * runs that started with it. Needs `fastPaths`. @default false
   */
  fastComparisons?: boolean | undefined;
  /**
   * How JSONata guards the evaluation ({@link Guards}); asked only when an
   * expression needs JSONata, so a workflow can decide it by a patch then.
   * @default () => 'metered'
   */
  guards?: (() => Guards) | undefined;
  /** The workflow task's budget the evaluation counts against. @default none (only the per-expression limit) */
  task?: TaskBudget | undefined;
  /**
   * Evaluates, somewhere else, an expression a step limit stopped under
   * metered guards: a workflow runs it in a local activity, whose result
   * its history records. Given the source and the data the evaluation saw;
   * its result is held to the result limit like any. Without it (or when it
   * throws the error it is given) the evaluation fails with that error.
   * @default none
   */
  fallback?: ((source: string, data: unknown, stopped: StepLimitError) => Promise<unknown>) | undefined;
  /**
   * Lets the workflow task end when the task's budget (not the expression's
   * own) stops an expression under metered guards: resolves true once a new
   * task has begun with a fresh budget, and the expression is evaluated again
   * there, in the workflow thread, against the same data; false leaves it to
   * {@link fallback}. Asked once per evaluation. @default none
   */
  yieldTask?: (() => Promise<boolean>) | undefined;
  /** Outside a workflow: limits in place of the workflow thread's (metered guards only). @default none */
  outside?: OutsideLimits | undefined;
  /**
   * Steps one expression may take under metered guards (a run's
   * `expressionStepsInWorkflow`). @default {@link MAX_EVALUATION_STEPS}
   */
  budget?: number | undefined;
}

/** Evaluates one expression against a prototype-free copy of the scope. */
export async function evaluateExpression(source: string, scope: ExpressionScope, options: EvaluationOptions = {}): Promise<unknown> {
  if (options.fastPaths) {
    const found = lookupPlainPath(source, scope) ?? (options.fastComparisons ? compareWithLiteral(source, scope) : undefined);
    if (found) return withinResultLimit(found.value, source);
  }
  const guards = options.guards?.() ?? 'metered';
  const legacy = guards === 'legacy';
  const compiled = legacy ? compileLegacyExpression(source) : compileExpression(source);
  const data = toPlainData(options.fastPaths ? reachableScope(compiled, scope) : scope);
  const attempt = () => {
    if (legacy) return compiled.evaluate(data);
    const counters: Counters = { steps: 0, task: options.task, metered: guards === 'metered', source, outside: options.outside, budget: options.budget };
    return compiled.evaluate(data, { [COUNTERS]: counters });
  };
  let result: unknown;
  try {
    try {
      result = await attempt();
    } catch (err) {
      // The task's budget is spent, not this expression's: go on in a new task, where it likely fits.
      if (!(err instanceof StepLimitError && err.limit === 'task' && guards === 'metered' && (await options.yieldTask?.()))) throw err;
      result = await attempt();
    }
  } catch (err) {
    if (err instanceof StepLimitError && guards === 'metered' && options.fallback) return withinResultLimit(toPlainData(await options.fallback(source, data, err)), source);
    if (err instanceof ExpressionError) throw err.expression ? err : new ExpressionError(err.message, source);
    throw new ExpressionError(`expression failed: ${describeJsonataError(err)}`, source);
  }
  return withinResultLimit(toPlainData(result), source);
}

function withinResultLimit(plain: unknown, source: string): unknown {
  if (plain !== undefined && JSON.stringify(plain).length > MAX_RESULT_BYTES) {
    throw new ExpressionError(`expression result is larger than ${MAX_RESULT_BYTES} bytes`, source);
  }
  return plain;
}

/** Scope names each compiled expression can reach ('all' when it may read the root as a whole). */
const reachable = new WeakMap<jsonata.Expression, ReadonlySet<string> | 'all'>();

/**
 * The part of the scope an expression can reach: the names its paths start
 * with. An expression over `loop.item` need not copy `input`, which in a loop
 * over the trigger data's list is that whole list for every item. Anything
 * that may read the root as a whole — `$`, `$$`, `*`, `**`, `%`, a function
 * called with no arguments (it takes the context) — gets all of it. Names that
 * only look like heads (inside filters, say) are kept too: a larger scope than
 * needed changes nothing.
 */
function reachableScope(compiled: jsonata.Expression, scope: ExpressionScope): ExpressionScope | Record<string, unknown> {
  let names = reachable.get(compiled);
  if (names === undefined) {
    names = scopeNamesReached(compiled.ast());
    reachable.set(compiled, names);
  }
  if (names === 'all') return scope;
  const part: Record<string, unknown> = {};
  for (const name of names) if (Object.prototype.hasOwnProperty.call(scope, name)) part[name] = scope[name as keyof ExpressionScope];
  return part;
}

interface AstNode {
  type?: string;
  value?: unknown;
  steps?: AstNode[];
  arguments?: AstNode[];
}

/** The first names of every path in a JSONata syntax tree, or 'all' when it may read the root as a whole. */
export function scopeNamesReached(root: unknown): ReadonlySet<string> | 'all' {
  const names = new Set<string>();
  const readsRoot = (node: AstNode) =>
    (node.type === 'variable' && (node.value === '' || node.value === '$')) ||
    node.type === 'wildcard' ||
    node.type === 'descendant' ||
    node.type === 'parent' ||
    (node.type === 'function' && (node.arguments?.length ?? 0) === 0);
  const visit = (value: unknown, stepOfPath = false): boolean => {
    if (Array.isArray(value)) return value.every((v) => visit(v));
    if (!value || typeof value !== 'object') return true;
    const node = value as AstNode;
    if (readsRoot(node)) return false;
    if (node.type === 'name' && !stepOfPath) names.add(String(node.value));
    for (const [key, child] of Object.entries(node)) {
      if (key === 'steps' && node.type === 'path') {
        // Only the first step starts from the root; later names are fields of what came before.
        if (!node.steps!.every((step, i) => visit(step, i > 0))) return false;
      } else if (!visit(child)) return false;
    }
    return true;
  };
  return visit(root) ? names : 'all';
}

/** A dotted path of names, the most common expression in definitions (`input.customer.name`). */
const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
/** The names a plain path may start with: the scope's. */
const SCOPE_NAMES = new Set(['input', 'vars', 'steps', 'run', 'env', 'loop']);
/** Words JSONata reads as operators (`and`, `or`, `in`), literals, or the start of a lambda, not as names. */
const RESERVED_NAMES = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);
/** Keys {@link toPlainData} leaves out of every copy. */
const HIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Deepest level {@link toPlainData} copies. */
const MAX_DATA_DEPTH = 64;

/**
 * The value of a plain property path such as `steps.fetch.output.body.id`,
 * found by walking the scope's own properties and copying only what is
 * found: JSONata creates many promises per evaluation, and each evaluation
 * copies the whole scope first. The value is the one JSONata finds in the
 * scope's copy. Undefined (left to JSONata) where JSONata's path semantics
 * differ from a walk: a list anywhere on the path, the value found included
 * (JSONata maps over a list's items and flattens what they give), a number
 * that is not finite.
 */
export function lookupPlainPath(source: string, scope: ExpressionScope): { value: unknown } | undefined {
  if (source.length > MAX_EXPRESSION_LENGTH || !PLAIN_PATH.test(source)) return undefined;
  const names = source.split('.');
  if (!SCOPE_NAMES.has(names[0]!) || names.length > MAX_DATA_DEPTH || names.some((n) => RESERVED_NAMES.has(n))) return undefined;
  let value: unknown = scope;
  for (const name of names) {
    if (Array.isArray(value)) return undefined;
    // Only objects have keys in the copy: a Date is a string there, a function is left out.
    if (value === null || typeof value !== 'object' || value instanceof Date) return { value: undefined };
    if (HIDDEN_KEYS.has(name) || !Object.prototype.propertyIsEnumerable.call(value, name)) return { value: undefined };
    value = (value as Record<string, unknown>)[name];
  }
  if (Array.isArray(value) || (typeof value === 'number' && !Number.isFinite(value))) return undefined;
  return { value: toPlainData(value, names.length) };
}

/** A plain path, a comparison operator and a literal: a number, a string without escapes, true, false or null. */
const COMPARISON = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|!=|=|<|>)\s*(-?(?:0|[1-9]\d*)(?:\.\d+)?|'[^'\\]*'|"[^"\\]*"|true|false|null)\s*$/;

/**
 * A plain path compared with a literal (`vars.total > 100`, `input.kind =
 * 'a'`, `vars.sent != true`), the most common condition in definitions,
 * answered without JSONata where the answer is certain to be JSONata's: `=`
 * and `!=` are false when the path finds nothing and compare a found number,
 * string, boolean or null by value; `<`, `<=`, `>`, `>=` compare two numbers
 * or two strings. Undefined (left to JSONata, which may answer or fail) for
 * anything else: a list or an object found, an ordering across types.
 */
export function compareWithLiteral(source: string, scope: ExpressionScope): { value: boolean } | undefined {
  if (source.length > MAX_EXPRESSION_LENGTH) return undefined;
  const match = COMPARISON.exec(source);
  if (!match) return undefined;
  const [, path, op, literal] = match as unknown as [string, string, string, string];
  const found = lookupPlainPath(path, scope);
  if (!found) return undefined;
  const left = found.value;
  const right: unknown =
    literal === 'true' ? true : literal === 'false' ? false : literal === 'null' ? null : /^['"]/.test(literal) ? literal.slice(1, -1) : Number(literal);
  if (op === '=' || op === '!=') {
    if (left === undefined) return { value: false };
    if (left !== null && typeof left === 'object') return undefined;
    return { value: op === '=' ? left === right : left !== right };
  }
  const comparable = (typeof left === 'number' && typeof right === 'number') || (typeof left === 'string' && typeof right === 'string');
  if (!comparable) return undefined;
  const [l, r] = [left as number | string, right as number | string];
  return { value: op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r };
}

const TEMPLATE = /\{\{([\s\S]+?)\}\}/g;

/** The expressions inside a string's `{{ … }}` placeholders. */
export function templateExpressions(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((m) => (m[1] ?? '').trim());
}

/**
 * Renders `{{ … }}` placeholders. A string that is exactly one placeholder
 * yields the expression's value as it is (a number stays a number); otherwise
 * values are joined into the text (objects as JSON, nothing for undefined).
 */
export async function renderTemplate(text: string, scope: ExpressionScope, options: EvaluationOptions = {}): Promise<unknown> {
  const template = parseTemplate(text);
  if ('whole' in template) return evaluateExpression(template.whole, scope, options);
  let out = '';
  for (const part of template.parts) {
    out += typeof part === 'string' ? part : stringify(await evaluateExpression(part.source, scope, options));
  }
  return out;
}

/** A template: one placeholder and nothing else (its value is the result), or text with placeholders in it. */
type ParsedTemplate = { whole: string } | { parts: (string | { source: string })[] };

function parseTemplate(text: string): ParsedTemplate {
  const whole = /^\{\{([\s\S]+?)\}\}$/.exec(text.trim());
  if (whole && templateExpressions(text).length === 1) return { whole: (whole[1] ?? '').trim() };
  const parts: (string | { source: string })[] = [];
  let last = 0;
  for (const match of text.matchAll(TEMPLATE)) {
    parts.push(text.slice(last, match.index), { source: (match[1] ?? '').trim() });
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(text.slice(last));
  return { parts };
}

/**
 * {@link renderDeep} at once, without a promise, when every placeholder in
 * the value is a plain path ({@link lookupPlainPath}); undefined when one
 * needs JSONata. Each awaited evaluation costs workflow code a few promises,
 * and the SDK captures a stack trace for every promise made in a workflow.
 */
export function renderPlain(value: unknown, scope: ExpressionScope): { value: unknown } | undefined {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return { value };
    const template = parseTemplate(value);
    if ('whole' in template) {
      const found = lookupPlainPath(template.whole, scope);
      return found && { value: withinResultLimit(found.value, template.whole) };
    }
    let out = '';
    for (const part of template.parts) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const found = lookupPlainPath(part.source, scope);
      if (!found) return undefined;
      out += stringify(withinResultLimit(found.value, part.source));
    }
    return { value: out };
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const rendered = renderPlain(item, scope);
      if (!rendered) return undefined;
      out.push(rendered.value);
    }
    return { value: out };
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const rendered = renderPlain(v, scope);
      if (!rendered) return undefined;
      out[k] = rendered.value;
    }
    return { value: out };
  }
  return { value };
}

/** Renders every string inside a value (objects and arrays walked recursively). */
export async function renderDeep(value: unknown, scope: ExpressionScope, options: EvaluationOptions = {}): Promise<unknown> {
  if (typeof value === 'string') return value.includes('{{') ? renderTemplate(value, scope, options) : value;
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderDeep(v, scope, options)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderDeep(v, scope, options);
    return out;
  }
  return value;
}

/** Truthiness of a condition's result, as JSONata's `$boolean` defines it. */
export function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.some(isTruthy);
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/**
 * A JSON-shaped copy whose objects have no prototype, so no expression can
 * walk from data to `constructor`, `__proto__` or a function.
 */
export function toPlainData(value: unknown, depth = 0): unknown {
  if (depth > MAX_DATA_DEPTH) throw new ExpressionError(`data nests deeper than ${MAX_DATA_DEPTH} levels`, '');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((v) => toPlainData(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) {
      if (HIDDEN_KEYS.has(k)) continue;
      const copy = toPlainData(v, depth + 1);
      if (copy !== undefined) out[k] = copy;
    }
    return out;
  }
  return undefined;
}

/** JSONata's codes for the limits it enforces itself, said in terms of ours. */
const LIMIT_MESSAGES: Record<string, string> = {
  D1011: `it nests deeper than ${MAX_EVALUATION_DEPTH} levels of evaluation (a recursion that does not end?)`,
  D2014: `it builds a list longer than ${MAX_SEQUENCE_LENGTH} items`,
  D2015: `it builds a list longer than ${MAX_SEQUENCE_LENGTH} items`,
};

function describeJsonataError(err: unknown): string {
  if (err instanceof RangeError) return `it ran out of room (${err.message})`;
  const code = err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (LIMIT_MESSAGES[code]) return LIMIT_MESSAGES[code];
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as { message: unknown; position?: unknown; token?: unknown };
    const at = typeof e.position === 'number' ? ` (at character ${e.position})` : '';
    return `${String(e.message)}${at}`;
  }
  return String(err);
}
