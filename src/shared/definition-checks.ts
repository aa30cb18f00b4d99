/**
 * The checks of a definition that zod cannot make field by field: unique step
 * ids, expressions that parse, `steps.<id>` references that can hold a value
 * where they are read, and recipients written so they could never be one
 * each. `parseDefinition` (definition.ts) runs them.
 */
import type { DefinitionProblem, Step } from './definition';
import { compileExpression, ExpressionError, templateExpressions } from './expressions';
import { jsonPath } from './json-path';
import { checkPhoneNumber, checkSlackChannel, writtenRecipientProblem } from './recipients';
import { allSteps, childStepLists, NESTED_STEP_FIELDS, nestedStepLists } from './step-tree';

/** Expression checks of one step's own fields (nested steps check themselves). */
export function checkStepExpressions(step: Step): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  if (step.if !== undefined) problems.push(...checkBareExpression(step.if, ['if']));
  if (step.type === 'condition') problems.push(...checkBareExpression(step.condition, ['condition']));
  if (step.type === 'switch') problems.push(...checkBareExpression(step.value, ['value']));
  if (step.type === 'foreach') problems.push(...checkBareExpression(step.items, ['items']));
  if (step.type === 'delay' && step.until !== undefined) problems.push(...checkBareExpression(step.until, ['until']));
  for (const [field, value] of Object.entries(step)) {
    if (NESTING_FIELDS.has(field) || EXPRESSION_FIELDS.has(field)) continue;
    problems.push(...checkTemplates(value, [field]));
  }
  return problems;
}

/**
 * Duplicate step ids, found on the raw document so they are reported beside
 * every other problem, even when some steps do not validate.
 */
export function duplicateIds(input: unknown): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const seen = new Map<string, string>();
  const visitList = (list: unknown, path: (string | number)[]) => {
    if (!Array.isArray(list)) return;
    list.forEach((step: unknown, index) => visitStep(step, [...path, index]));
  };
  const visitStep = (step: unknown, at: (string | number)[]) => {
    if (!step || typeof step !== 'object') return;
    const record = step as Record<string, unknown>;
    if (typeof record.id === 'string') {
      const earlier = seen.get(record.id);
      if (earlier) problems.push({ path: [...at, 'id'], message: `duplicate step id "${record.id}" (also at ${earlier})` });
      else seen.set(record.id, jsonPath(at));
    }
    for (const child of nestedStepLists(record)) visitList(child.steps, [...at, ...child.path]);
  };
  if (input && typeof input === 'object') visitList((input as Record<string, unknown>).steps, ['steps']);
  return problems;
}

/** A whole field written as a template, `{{ … }}`, capturing what is inside. */
const WHOLE_TEMPLATE = /^\s*\{\{([\s\S]*)\}\}\s*$/;

/**
 * A field that is an expression itself (`if`, `condition`, `value`, `items`,
 * `until`). Written as a template, it would fail with the parser's words
 * (`Expected ":", got "}"`: JSONata reads `{` as an object); say instead
 * what to write.
 */
function checkBareExpression(source: string, path: (string | number)[]): DefinitionProblem[] {
  const problems = checkExpression(source, path);
  if (problems.length === 0 || !source.includes('{{')) return problems;
  const templated = WHOLE_TEMPLATE.exec(source);
  const hint = templated
    ? `write ${JSON.stringify(templated[1]!.trim())}, not ${JSON.stringify(source.trim())}`
    : '{{ }} marks expressions inside text fields; here write the expression itself';
  return [{ path, message: `takes a bare expression, without {{ }}: ${hint}` }];
}

function checkExpression(source: string, path: (string | number)[]): DefinitionProblem[] {
  try {
    compileExpression(source);
    return [];
  } catch (err) {
    return [{ path, message: err instanceof ExpressionError ? err.message : String(err) }];
  }
}

function checkTemplates(value: unknown, path: (string | number)[]): DefinitionProblem[] {
  if (typeof value === 'string') {
    return templateExpressions(value).flatMap((expr) => checkExpression(expr, path));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => checkTemplates(v, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => checkTemplates(v, [...path, k]));
  }
  return [];
}
/**
 * Recipients as written that could never be one recipient each after
 * templating: a literal email address that is a list or has a display name, a
 * template whose own text holds separators, a literal phone number that is
 * not E.164, a literal Slack channel that is not one channel.
 */
export function writtenRecipientProblems(steps: Step[], path: (string | number)[]): DefinitionProblem[] {
  return steps.flatMap((step, index) => {
    const at = [...path, index];
    const own: DefinitionProblem[] = [];
    const check = (value: unknown, field: (string | number)[], problemOf: (text: string) => string | undefined) => {
      if (Array.isArray(value)) value.forEach((item, i) => check(item, [...field, i], problemOf));
      const message = typeof value === 'string' ? problemOf(value) : undefined;
      if (message) own.push({ path: [...at, ...field], message });
    };
    const literal = (checkValue: (text: string) => { ok: true } | { ok: false; problem: string }) => (text: string) => {
      if (text.includes('{{')) return undefined;
      const checked = checkValue(text);
      return checked.ok ? undefined : checked.problem;
    };
    if (step.type === 'email') for (const field of ['to', 'cc', 'bcc', 'replyTo'] as const) check(step[field], [field], writtenRecipientProblem);
    if (step.type === 'sms') check(step.to, ['to'], literal(checkPhoneNumber));
    if (step.type === 'slack') check(step.channel, ['channel'], literal(checkSlackChannel));
    return [...own, ...childStepLists(step).flatMap((child) => writtenRecipientProblems(child.steps, [...at, ...child.path]))];
  });
}

const STEP_REFERENCE = /\bsteps\.(?:`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Expressions (bare or in templates) of a step's own fields, with their paths. */
function expressionsOf(step: Step): { path: (string | number)[]; source: string }[] {
  const found: { path: (string | number)[]; source: string }[] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (typeof value === 'string') for (const source of templateExpressions(value)) found.push({ path, source });
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  for (const [field, value] of Object.entries(step)) {
    if (NESTING_FIELDS.has(field)) continue;
    if (EXPRESSION_FIELDS.has(field) && typeof value === 'string') found.push({ path: [field], source: value });
    else walk(value, [field]);
  }
  return found;
}

/**
 * References to `steps.<id>` that cannot hold a value where they are read: no
 * step has that id, or it has not run yet at that point. A step sees the steps
 * before it in its own list and in every enclosing list (whether or not a
 * branch of theirs ran: an untaken branch's steps read as null), not itself,
 * not later steps, not the other branches of a `parallel` it is in, and not the
 * steps inside an earlier `foreach`, whose outputs live in their iteration.
 * A step's `onError.compensate` steps also see the step itself.
 */
export function unknownStepReferences(steps: Step[]): DefinitionProblem[] {
  const ids = new Set(allSteps(steps).map((s) => s.id));
  const loopOf = new Map<string, string>();
  for (const loop of allSteps(steps)) {
    if (loop.type === 'foreach') for (const inner of allSteps(loop.steps)) if (!loopOf.has(inner.id)) loopOf.set(inner.id, loop.id);
  }
  const problems: DefinitionProblem[] = [];
  const visit = (list: Step[], path: (string | number)[], visible: ReadonlySet<string>) => {
    const seen = new Set(visible);
    list.forEach((step, index) => {
      const at = [...path, index];
      for (const { path: field, source } of expressionsOf(step)) {
        for (const match of source.matchAll(STEP_REFERENCE)) {
          const id = match[1] ?? match[2] ?? '';
          if (seen.has(id)) continue;
          problems.push({ path: [...at, ...field], message: referenceProblem(id, step.id, ids, loopOf) });
        }
      }
      for (const child of childStepLists(step)) {
        const compensation = child.path[0] === 'onError';
        visit(child.steps, [...at, ...child.path], compensation ? new Set([...seen, step.id]) : seen);
      }
      seen.add(step.id);
      if (step.type !== 'foreach') for (const inner of childStepLists(step).flatMap((c) => allSteps(c.steps))) seen.add(inner.id);
    });
  };
  visit(steps, ['steps'], new Set());
  return problems;
}

function referenceProblem(id: string, from: string, ids: ReadonlySet<string>, loopOf: ReadonlyMap<string, string>): string {
  if (!ids.has(id)) return `refers to step "${id}", which this definition does not have`;
  if (id === from) return `refers to its own step "${id}", whose output does not exist until it finishes`;
  const loop = loopOf.get(id);
  if (loop !== undefined && loopOf.get(from) !== loop) {
    return `refers to step "${id}" inside foreach "${loop}": its output exists only within an iteration; read steps.${loop}.output after the loop`;
  }
  return `refers to step "${id}", which has not run yet here (it comes later, or runs in a parallel branch)`;
}

/** Fields that hold a bare expression rather than templated text. */
const EXPRESSION_FIELDS = new Set(['if', 'condition', 'value', 'items', 'until']);

/** Fields that hold nested step lists rather than values (and are passed over even when they hold a value: an approval's `onTimeout`). */
const NESTING_FIELDS: ReadonlySet<string> = new Set(Object.keys(NESTED_STEP_FIELDS));
