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
import { compareWithLiteral, lookupPlainPath, reachableScope, toPlainData } from './expression-data';
import {
  ExpressionError,
  type ExpressionScope,
  MAX_EVALUATION_DEPTH,
  MAX_EVALUATION_STEPS,
  MAX_EXPRESSION_LENGTH,
  MAX_RESULT_BYTES,
  MAX_SEQUENCE_LENGTH,
  MAX_STRING_LENGTH,
  type OutsideLimits,
  StepLimitError,
  type TaskBudget,
} from './expression-limits';
import { builtCost, charge, checkBuilt, COUNTERS, type Counters, type Guards, guardedFunctions, READS } from './expression-meter';
import { EXIT_HOOK } from './jsonata-builtins';
import { LinearRegExp, linearRegExpProblem } from './linear-regexp';

export * from './expression-limits';
export { compareWithLiteral, lookupPlainPath, scopeNamesReached, toPlainData } from './expression-data';
export type { Guards } from './expression-meter';

const DISABLED_FUNCTIONS = ['eval'] as const;

/** Compiled expressions by source, guarded as runs before the bounded guards were (see {@link EvaluationOptions.legacyGuards}). */
const legacyCache = new Map<string, jsonata.Expression>();
const cache = new Map<string, jsonata.Expression>();
const CACHE_LIMIT = 2_000;

const ENTRY_HOOK = Symbol.for('jsonata.__evaluate_entry');

/** Per-evaluation counters of the legacy guard live on JSONata's execution frame (`environment.base`). */
interface Frame {
  base: { wfaSteps?: number; wfaCounters?: Counters };
  lookup(name: string): unknown;
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

/** A literal range longer than this makes an expression heavy by its shape ({@link heavyShape}). */
export const HEAVY_RANGE_ITEMS = 10_000;

const shapes = new WeakMap<jsonata.Expression, string | null>();

/**
 * Why an expression is heavy by its shape alone, or undefined: it defines a
 * function (`function($x){ … }`), or builds a literal range longer than
 * {@link HEAVY_RANGE_ITEMS} items. Such expressions are where a step of
 * evaluation costs the most in a workflow (a call makes a frame and a chain
 * of promises; a range builds its list before it is charged), so a run that
 * asks for it ({@link EvaluationOptions.shapeBudget}) gives them fewer steps
 * in the workflow thread before they go outside it.
 */
export function heavyShape(compiled: jsonata.Expression): string | undefined {
  let found = shapes.get(compiled);
  if (found === undefined) {
    found = null;
    const visit = (value: unknown): void => {
      if (found || !value || typeof value !== 'object') return;
      if (Array.isArray(value)) return value.forEach(visit);
      const node = value as SyntaxNode & { thunk?: boolean };
      // JSONata wraps a call in tail position of a function as a thunk lambda; only lambdas users write count.
      if (node.type === 'lambda' && !node.thunk) found = 'defines a function';
      else if (node.type === 'binary' && node.value === '..' && node.lhs?.type === 'number' && node.rhs?.type === 'number') {
        const size = Number(node.rhs.value) - Number(node.lhs.value) + 1;
        if (size > HEAVY_RANGE_ITEMS) found = `builds a range of ${size} items`;
      }
      for (const child of Object.values(node)) if (child && typeof child === 'object') visit(child);
    };
    visit(compiled.ast());
    shapes.set(compiled, found);
  }
  return found ?? undefined;
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
  /**
   * Steps an expression heavy by its shape ({@link heavyShape}) may take in
   * the workflow thread under metered guards, in place of {@link budget}
   * when smaller: a run's `heavyExpressionStepsInWorkflow`. @default none (the same budget as any)
   */
  shapeBudget?: number | undefined;
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
  const heavy = options.shapeBudget !== undefined && guards === 'metered' ? heavyShape(compiled) : undefined;
  const budget = heavy ? Math.min(options.shapeBudget!, options.budget ?? MAX_EVALUATION_STEPS) : options.budget;
  const attempt = () => {
    if (legacy) return compiled.evaluate(data);
    const counters: Counters = { steps: 0, task: options.task, metered: guards === 'metered', source, outside: options.outside, budget };
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