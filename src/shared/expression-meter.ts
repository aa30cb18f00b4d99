/**
 * The metering of an evaluation: each step JSONata takes, and what it
 * builds, sorts and scans, charged against the expression's and its workflow
 * task's budgets (src/shared/expression-limits.ts), and the built-ins that
 * do much work in one call wrapped to charge it. Counts, not a clock, so
 * replay reaches the same verdict.
 */
import { type JsonataFunction, jsonataBuiltins } from './jsonata-builtins';
import {
  BOUNDED_LIMITS,
  CHARACTERS_PER_STEP,
  ExpressionError,
  ITEMS_PER_STEP,
  MAX_EVALUATION_STEPS,
  MAX_SEQUENCE_LENGTH,
  MAX_STRING_LENGTH,
  MAX_TASK_STEPS,
  type OutsideLimits,
  STRING_CHARACTERS_PER_STEP,
  StepLimitError,
  type TaskBudget,
} from './expression-limits';

/** The binding that carries an evaluation's counters: a name with a space, which no expression can spell. */
export const COUNTERS = 'wfa counters';

/**
 * How an evaluation is guarded: `metered` (new runs, the gateway) charges
 * steps and what it builds against {@link MAX_EVALUATION_STEPS} and
 * {@link MAX_TASK_STEPS}; `bounded` counts steps alone, against the larger
 * limits runs started with before; `legacy` as runs before any bounded guard.
 */
export type Guards = 'legacy' | 'bounded' | 'metered';

/** What one evaluation has used, and the task it belongs to. */
export interface Counters {
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
export function charge(counters: Counters, cost: number, what?: string): void {
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
export function builtCost(result: unknown): number {
  if (typeof result === 'string') return result.length / CHARACTERS_PER_STEP;
  if (Array.isArray(result)) return result.length / ITEMS_PER_STEP;
  return 0;
}


/** Syntax nodes that give back what the data holds, not something they built: a large trigger field is no blow-up. */
export const READS = new Set(['name', 'variable', 'path', 'string']);

/** Stops an evaluation at a string or a list over the limits, as soon as one is built. */
export function checkBuilt(result: unknown, source: string): void {
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
export function guardedFunctions(): Record<string, JsonataFunction> {
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
