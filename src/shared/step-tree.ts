/**
 * Walking a definition's tree of steps: the one place that knows which fields
 * of a step hold nested steps. The definition checks, the interpreter and the
 * console's outline all walk the tree through it. Apart from definition.ts
 * (with its zod schemas) on purpose: the workflow imports this, and each run
 * evaluates the workflow's modules anew, so what it imports is paid for on
 * every start.
 */
import type { Step } from './definition';

/** How nested steps sit in a field; see {@link NESTED_STEP_FIELDS}. */
type NestingShape = 'list' | 'lists' | 'each' | 'compensate';

/** Every field name of every step type. */
type StepField = FieldOf<Step>;
type FieldOf<S> = S extends unknown ? keyof S : never;

/**
 * Every field of a step that holds nested steps, in the order a step's lists
 * are walked, with how the steps sit in it:
 * - `list`: a list of steps (a condition's `then` and `else`, a switch's
 *   `default`, a wait_for_signal's `onTimeout`, a foreach's `steps`);
 * - `lists`: a list of step lists (a parallel's `branches`);
 * - `each`: a list of objects, each with its `steps` (a switch's `cases`, an
 *   approval's `escalation` rungs);
 * - `compensate`: an object whose `compensate` is a list (any step's `onError`).
 *
 * A field of one of these names that is not so shaped holds no steps (an
 * approval's `onTimeout` is a word, `onError` may be `"continue"`).
 */
export const NESTED_STEP_FIELDS = {
  then: 'list',
  else: 'list',
  cases: 'each',
  default: 'list',
  branches: 'lists',
  onTimeout: 'list',
  steps: 'list',
  escalation: 'each',
  onError: 'compensate',
} as const satisfies { [F in StepField]?: NestingShape };

export type NestedStepField = keyof typeof NESTED_STEP_FIELDS;

/** A list of steps nested in a step, and its path relative to that step (`['cases', 0, 'steps']`). */
export interface NestedStepList<S> {
  path: [NestedStepField, ...(string | number)[]];
  steps: S[];
}

const FIELDS = Object.entries(NESTED_STEP_FIELDS) as [NestedStepField, NestingShape][];

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object';

/**
 * The step lists nested in a step as written, validated or not: what the
 * duplicate-id check reads on a raw document and the console's outline on a
 * stored one. Values not shaped as {@link NESTED_STEP_FIELDS} says are passed
 * over, and so are the lists' items: they are whatever the document holds.
 */
export function nestedStepLists(step: object): NestedStepList<unknown>[] {
  const record = step as Record<string, unknown>;
  const lists: NestedStepList<unknown>[] = [];
  for (const [field, shape] of FIELDS) {
    const value = record[field];
    if (shape === 'compensate') {
      if (isRecord(value) && Array.isArray(value.compensate)) lists.push({ path: [field, 'compensate'], steps: value.compensate });
    } else if (!Array.isArray(value)) {
      continue;
    } else if (shape === 'list') {
      lists.push({ path: [field], steps: value });
    } else if (shape === 'lists') {
      value.forEach((list: unknown, i) => {
        if (Array.isArray(list)) lists.push({ path: [field, i], steps: list });
      });
    } else {
      value.forEach((item: unknown, i) => {
        const steps = isRecord(item) ? item.steps : undefined;
        if (Array.isArray(steps)) lists.push({ path: [field, i, 'steps'], steps });
      });
    }
  }
  return lists;
}

/** The step lists nested in a validated step, with their path relative to it. */
export function childStepLists(step: Step): NestedStepList<Step>[] {
  // Every list a validated step holds in these fields is a list of validated steps.
  return nestedStepLists(step) as NestedStepList<Step>[];
}

/** Every step of a definition, nested ones included, in document order. */
export function allSteps(steps: Step[]): Step[] {
  return steps.flatMap((s) => [s, ...childStepLists(s).flatMap((child) => allSteps(child.steps))]);
}
