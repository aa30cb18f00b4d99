/**
 * The data an expression sees, and the expressions answered without JSONata:
 * prototype-free copies of the scope, the scope names an expression can
 * reach, plain paths (`input.customer.email`) and a plain path compared with
 * a literal (`vars.total > 100`).
 */
import type jsonata from 'jsonata';
import { ExpressionError, type ExpressionScope, MAX_EXPRESSION_LENGTH } from './expression-limits';

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
export function reachableScope(compiled: jsonata.Expression, scope: ExpressionScope): ExpressionScope | Record<string, unknown> {
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

