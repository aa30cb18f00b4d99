/**
 * Walking a definition's tree of steps. Apart from definition.ts (with its
 * zod schemas) on purpose: the workflow imports this, and each run evaluates
 * the workflow's modules anew, so what it imports is paid for on every start.
 */
import type { OnError, Step } from './definition';

/** The step lists nested in a step, with their path relative to it. */
export function childStepLists(step: Step): { path: (string | number)[]; steps: Step[] }[] {
  const lists: { path: (string | number)[]; steps: Step[] }[] = [];
  switch (step.type) {
    case 'condition':
      lists.push({ path: ['then'], steps: step.then });
      if (step.else) lists.push({ path: ['else'], steps: step.else });
      break;
    case 'switch':
      step.cases.forEach((c, i) => lists.push({ path: ['cases', i, 'steps'], steps: c.steps }));
      if (step.default) lists.push({ path: ['default'], steps: step.default });
      break;
    case 'parallel':
      step.branches.forEach((b, i) => lists.push({ path: ['branches', i], steps: b }));
      break;
    case 'wait_for_signal':
      if (step.onTimeout) lists.push({ path: ['onTimeout'], steps: step.onTimeout });
      break;
    case 'foreach':
      lists.push({ path: ['steps'], steps: step.steps });
      break;
    case 'approval':
      (step.escalation ?? []).forEach((rung, i) => lists.push({ path: ['escalation', i, 'steps'], steps: rung.steps }));
      break;
    default:
      break;
  }
  const onError: OnError | undefined = step.onError;
  if (onError && typeof onError !== 'string') lists.push({ path: ['onError', 'compensate'], steps: onError.compensate });
  return lists;
}

/** Every step of a definition, nested ones included, in document order. */
export function allSteps(steps: Step[]): Step[] {
  return steps.flatMap((s) => [s, ...childStepLists(s).flatMap((child) => allSteps(child.steps))]);
}
