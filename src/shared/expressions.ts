/**
 * JSONata expressions and `{{ … }}` templates, evaluated the same way in the
 * workflow (deterministically) and in the gateway (validation at save time).
 *
 * Hardening: expressions see prototype-free copies of the data, `$eval` is
 * switched off, and every evaluation has a budget of evaluation steps and
 * nesting depth — a count, not a clock, so replay reaches the same verdict.
 */
import jsonata from 'jsonata';

/** Longest expression accepted at save time. @default 2000 characters */
export const MAX_EXPRESSION_LENGTH = 2_000;
/** Evaluation steps one expression may take before it is stopped. */
export const MAX_EVALUATION_STEPS = 100_000;
/** Deepest nesting of evaluation an expression may reach. */
export const MAX_EVALUATION_DEPTH = 200;
/** Largest result (as JSON) an expression may produce. @default 1 MiB */
export const MAX_RESULT_BYTES = 1_048_576;

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

const DISABLED_FUNCTIONS = ['eval'] as const;

const cache = new Map<string, jsonata.Expression>();
const CACHE_LIMIT = 2_000;

/** Longest sequence an expression may build. */
export const MAX_SEQUENCE_LENGTH = 100_000;

const ENTRY_HOOK = Symbol.for('jsonata.__evaluate_entry');

/** Per-evaluation counters live on JSONata's execution frame (`environment.base`). */
interface Frame {
  base: { wfaSteps?: number };
}

/** Compiles (and caches) an expression; throws {@link ExpressionError} when it does not parse. */
export function compileExpression(source: string): jsonata.Expression {
  const cached = cache.get(source);
  if (cached) return cached;
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, source);
  }
  let compiled: jsonata.Expression;
  try {
    // `stack` bounds nesting, `sequence` bounds the size of what is built. JSONata's
    // own `timeout` reads the clock, which stands still inside a workflow
    // activation, so the step budget below bounds time instead.
    compiled = jsonata(source, { stack: MAX_EVALUATION_DEPTH, sequence: MAX_SEQUENCE_LENGTH });
  } catch (err) {
    throw new ExpressionError(`expression does not parse: ${describeJsonataError(err)}`, source);
  }
  for (const name of DISABLED_FUNCTIONS) {
    compiled.registerFunction(name, () => {
      throw new ExpressionError(`$${name} is not available in expressions`, source);
    });
  }
  // Counted on every evaluation step, tail calls included, so even a loop that
  // never grows the stack stops. JSONata looks hooks up by symbol; its typings only know strings.
  const hookName = ENTRY_HOOK as unknown as string;
  compiled.assign(hookName, (_node: unknown, _input: unknown, frame: Frame) => {
    const steps = (frame.base.wfaSteps ?? 0) + 1;
    frame.base.wfaSteps = steps;
    if (steps > MAX_EVALUATION_STEPS) {
      throw new ExpressionError(`expression took more than ${MAX_EVALUATION_STEPS} evaluation steps`, source);
    }
  });
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(source, compiled);
  return compiled;
}

/** Evaluates one expression against a prototype-free copy of the scope. */
export async function evaluateExpression(source: string, scope: ExpressionScope): Promise<unknown> {
  const compiled = compileExpression(source);
  const data = toPlainData(scope);
  let result: unknown;
  try {
    result = await compiled.evaluate(data);
  } catch (err) {
    if (err instanceof ExpressionError) throw err;
    throw new ExpressionError(`expression failed: ${describeJsonataError(err)}`, source);
  }
  const plain = toPlainData(result);
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
export async function renderTemplate(text: string, scope: ExpressionScope): Promise<unknown> {
  const whole = /^\{\{([\s\S]+?)\}\}$/.exec(text.trim());
  if (whole && templateExpressions(text).length === 1) {
    return evaluateExpression((whole[1] ?? '').trim(), scope);
  }
  let out = '';
  let last = 0;
  for (const match of text.matchAll(TEMPLATE)) {
    out += text.slice(last, match.index);
    const value = await evaluateExpression((match[1] ?? '').trim(), scope);
    out += stringify(value);
    last = (match.index ?? 0) + match[0].length;
  }
  return out + text.slice(last);
}

/** Renders every string inside a value (objects and arrays walked recursively). */
export async function renderDeep(value: unknown, scope: ExpressionScope): Promise<unknown> {
  if (typeof value === 'string') return value.includes('{{') ? renderTemplate(value, scope) : value;
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderDeep(v, scope)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderDeep(v, scope);
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
  if (depth > 64) throw new ExpressionError('data nests deeper than 64 levels', '');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((v) => toPlainData(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
      const copy = toPlainData(v, depth + 1);
      if (copy !== undefined) out[k] = copy;
    }
    return out;
  }
  return undefined;
}

function describeJsonataError(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as { message: unknown; position?: unknown; token?: unknown };
    const at = typeof e.position === 'number' ? ` (at character ${e.position})` : '';
    return `${String(e.message)}${at}`;
  }
  return String(err);
}
