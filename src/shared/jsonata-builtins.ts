/**
 * JSONata's own implementations of the built-in functions the expression
 * guards wrap (src/shared/expressions.ts), looked up when a run first needs
 * JSONata rather than when the module loads: the workflow sandbox evaluates
 * the workflow code's modules again for every run, and inside a run the SDK
 * records a stack trace for every promise, so finding fifteen built-ins by
 * evaluating each (a chain of promises apiece) at load was a fifth of a
 * worker's workflow-thread time at 100 runs in flight, runs that never use
 * JSONata included (`npm run bench -- gateway-load` with `BENCH_PROFILE_DIR`).
 * One evaluation now finds them all, and only in runs that need them.
 */
import jsonata from 'jsonata';

export interface JsonataFunction {
  _jsonata_function: true;
  implementation: (this: unknown, ...args: unknown[]) => unknown;
  signature: unknown;
}

/** JSONata calls a function assigned under this symbol as each evaluation step ends. */
export const EXIT_HOOK = Symbol.for('jsonata.__evaluate_exit');

const WRAPPED = ['pad', 'join', 'string', 'map', 'filter', 'single', 'reduce', 'sift', 'each', 'sort', 'distinct', 'match', 'replace', 'split', 'contains'] as const;

export type WrappedBuiltin = (typeof WRAPPED)[number];

let found: Readonly<Record<WrappedBuiltin, JsonataFunction>> | undefined;

/**
 * The built-ins, found once: an evaluation of `$string` reaches its exit hook
 * before its first `await`, so the frame it ran in (whose lookups reach
 * JSONata's built-ins) is there synchronously; the evaluation's promise is
 * left to settle.
 */
export function jsonataBuiltins(): Readonly<Record<WrappedBuiltin, JsonataFunction>> {
  if (found) return found;
  let frame: { lookup(name: string): unknown } | undefined;
  const probe = jsonata('$string');
  probe.assign(EXIT_HOOK as unknown as string, (_node: unknown, _input: unknown, at: { lookup(name: string): unknown }) => {
    frame ??= at;
  });
  void probe.evaluate({}).catch(() => undefined);
  const lookup = (name: string): JsonataFunction => {
    const fn = frame?.lookup(name);
    if (!fn || typeof fn !== 'object' || !('_jsonata_function' in fn)) {
      throw new Error(`JSONata's built-in $${name} could not be found: this version of jsonata evaluates differently`);
    }
    return fn as JsonataFunction;
  };
  found = Object.fromEntries(WRAPPED.map((name) => [name, lookup(name)])) as Record<WrappedBuiltin, JsonataFunction>;
  return found;
}
