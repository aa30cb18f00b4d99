/**
 * Regular expressions for JSONata that run in time linear in their input:
 * RE2's engine (the `re2js` port, plain JavaScript, so workflow code may use
 * it), behind the part of the `RegExp` interface JSONata calls (`exec` and
 * `lastIndex`). V8's backtracking engine takes exponential time on patterns
 * such as `(a+)+$`, and nothing can stop it once it has started: not a step
 * budget, and inside a workflow not even the SDK's deadline without taking the
 * whole worker down. RE2 refuses what it cannot run in linear time
 * (backreferences, lookaround), which {@link linearRegExpProblem} reports.
 */
import { RE2JS } from 're2js';

const compiled = new Map<string, RE2JS>();
const CACHE_LIMIT = 500;

function compile(source: string, flags: string): RE2JS {
  const key = `${flags}/${source}`;
  let re = compiled.get(key);
  if (!re) {
    let bits = 0;
    if (flags.includes('i')) bits |= RE2JS.CASE_INSENSITIVE;
    if (flags.includes('m')) bits |= RE2JS.MULTILINE;
    if (flags.includes('s')) bits |= RE2JS.DOTALL;
    re = RE2JS.compile(RE2JS.translateRegExp(source), bits);
    if (compiled.size >= CACHE_LIMIT) compiled.clear();
    compiled.set(key, re);
  }
  return re;
}

/** What JSONata needs of a regular expression engine: `new Engine(regexp)`, `lastIndex`, `exec`. */
export class LinearRegExp {
  lastIndex = 0;
  readonly source: string;
  readonly flags: string;
  private readonly re: RE2JS;

  constructor(pattern: RegExp | string, flags?: string) {
    this.source = typeof pattern === 'string' ? pattern : pattern.source;
    this.flags = flags ?? (typeof pattern === 'string' ? '' : pattern.flags);
    this.re = compile(this.source, this.flags);
  }

  /** As `RegExp.prototype.exec` with the `g` flag: searches from `lastIndex` and moves it past the match. */
  exec(input: string): RegExpExecArray | null {
    const matcher = this.re.matcher(input);
    if (this.lastIndex > input.length || !matcher.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const groups: (string | undefined)[] = [];
    for (let i = 0; i <= matcher.groupCount(); i++) groups.push(matcher.group(i) ?? undefined);
    this.lastIndex = matcher.end();
    return Object.assign(groups, { index: matcher.start(), input }) as unknown as RegExpExecArray;
  }

  test(input: string): boolean {
    return this.exec(input) !== null;
  }
}

/** Why the linear-time engine cannot run a pattern, or undefined when it can. */
export function linearRegExpProblem(pattern: RegExp): string | undefined {
  try {
    compile(pattern.source, pattern.flags);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
