import { describe, expect, it } from 'vitest';
import { childStepLists, parseDefinition, type Step } from '../../src/shared/definition';
import { nestedStepLists } from '../../src/shared/step-tree';

const say = (id: string) => ({ id, type: 'set', values: {} });

/** One step of every kind that nests steps, with the paths its lists are at. */
const NESTING: { step: Record<string, unknown>; paths: (string | number)[][] }[] = [
  {
    step: { id: 'c', type: 'condition', condition: 'true', then: [say('c1')], else: [say('c2')] },
    paths: [['then'], ['else']],
  },
  {
    step: { id: 's', type: 'switch', value: '1', cases: [{ equals: 1, steps: [say('s1')] }, { equals: 2, steps: [say('s2')] }], default: [say('s3')] },
    paths: [['cases', 0, 'steps'], ['cases', 1, 'steps'], ['default']],
  },
  { step: { id: 'p', type: 'parallel', branches: [[say('p1')], [say('p2')]] }, paths: [['branches', 0], ['branches', 1]] },
  { step: { id: 'w', type: 'wait_for_signal', signal: 'go', timeout: '1h', onTimeout: [say('w1')] }, paths: [['onTimeout']] },
  { step: { id: 'f', type: 'foreach', items: '[1]', maxItems: 10, steps: [say('f1')] }, paths: [['steps']] },
  {
    step: { id: 'a', type: 'approval', role: 'operator', timeout: '2d', onTimeout: 'reject', escalation: [{ after: '1d', steps: [say('a1')] }] },
    paths: [['escalation', 0, 'steps']],
  },
  { step: { ...say('e'), onError: { compensate: [say('e1')] } }, paths: [['onError', 'compensate']] },
  { step: { ...say('n'), onError: 'continue' }, paths: [] },
];

describe('the tree of steps', () => {
  it.each(NESTING)('finds the step lists nested in a $step.type step ($step.id), validated or as written', ({ step, paths }) => {
    const parsed = parseDefinition({ key: 'k', name: 'K', steps: [step] });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const [validated] = parsed.definition.steps as [Step];
    expect(childStepLists(validated).map((list) => list.path)).toEqual(paths);
    expect(nestedStepLists(step).map((list) => list.path)).toEqual(paths);
  });

  it('passes over what is not shaped as nested steps', () => {
    expect(nestedStepLists({ then: 'x', branches: [1, [say('b')]], cases: [null, { steps: {} }], onError: { compensate: 'x' } })).toEqual([
      { path: ['branches', 1], steps: [say('b')] },
    ]);
  });
});
