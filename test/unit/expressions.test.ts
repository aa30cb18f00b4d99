import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  evaluateExpression,
  ExpressionError,
  type ExpressionScope,
  isTruthy,
  MAX_EXPRESSION_LENGTH,
  renderDeep,
  renderTemplate,
} from '../../src/shared/expressions';

const scope: ExpressionScope = {
  input: { name: 'Ada', items: [{ price: 2 }, { price: 3 }], nested: { deep: true } },
  vars: { tier: 'gold' },
  steps: { fetch: { output: { status: 200 }, status: 'COMPLETED' } },
  run: { executionId: 'e-1' },
};

describe('templates', () => {
  it('keeps the type of a whole-string expression', async () => {
    expect(await renderTemplate('{{ $sum(input.items.price) }}', scope)).toBe(5);
    expect(await renderTemplate('{{ input.nested }}', scope)).toEqual({ deep: true });
  });

  it('joins values into text, objects as JSON and missing values as nothing', async () => {
    expect(await renderTemplate('Hi {{ input.name }} ({{ vars.tier }}){{ input.missing }}', scope)).toBe('Hi Ada (gold)');
    expect(await renderTemplate('x={{ input.nested }}', scope)).toBe('x={"deep":true}');
  });

  it('renders every string inside objects and arrays', async () => {
    expect(await renderDeep({ to: ['{{ input.name }}'], n: 1, s: 'plain' }, scope)).toEqual({ to: ['Ada'], n: 1, s: 'plain' });
  });

  it('reads step outputs and run data', async () => {
    expect(await evaluateExpression('steps.fetch.output.status = 200 and run.executionId = "e-1"', scope)).toBe(true);
  });
});

describe('expression hardening', () => {
  const escapes = [
    'constructor',
    'input.constructor',
    'input["constructor"]',
    'input.__proto__',
    '$string.constructor',
    '$lookup(input, "constructor")',
    '$lookup(input, "__proto__")',
    'input.name.constructor',
    '$keys(input.__proto__)',
  ];
  it.each(escapes)('%s reaches nothing of the host', async (expr) => {
    const result = await evaluateExpression(expr, scope).catch((e: unknown) => e);
    if (result instanceof Error) {
      expect(result).toBeInstanceOf(ExpressionError);
    } else {
      // Whatever comes back is plain data from the scope: no function, no prototype.
      expect(containsFunction(result)).toBe(false);
      expect(result === undefined || JSON.stringify(result) === JSON.stringify(scope.input) || JSON.stringify(result) === '{}').toBe(true);
    }
  });

  it('turns $eval off', async () => {
    await expect(evaluateExpression('$eval("1+1")', scope)).rejects.toThrow(/\$eval is not available/);
  });

  it('stops runaway evaluation by a step budget', async () => {
    await expect(evaluateExpression('$count([1..1000000].($ * 2))', scope)).rejects.toThrow(/evaluation steps|longer than/);
  });

  it('stops unbounded recursion', async () => {
    await expect(evaluateExpression('($f := function($n) { $f($n + 1) }; $f(0))', scope)).rejects.toThrow(ExpressionError);
  });

  it('refuses over-long expressions at compile time', () => {
    expect(() => compileExpression(`"${'a'.repeat(MAX_EXPRESSION_LENGTH)}"`)).toThrow(/longer than/);
  });

  it('does not let an expression change the data it reads', async () => {
    const data = { input: { a: 1 }, vars: {}, steps: {}, run: {} };
    await evaluateExpression('($x := input; $x.a := 2; input.a)', data).catch(() => undefined);
    expect(data.input.a).toBe(1);
  });
});

describe('isTruthy', () => {
  it('follows $boolean', () => {
    expect([0, '', null, undefined, false, [], {}, [0, '']].map(isTruthy)).toEqual([false, false, false, false, false, false, false, false]);
    expect([1, 'x', true, [0, 1], { a: 1 }].map(isTruthy)).toEqual([true, true, true, true, true]);
  });
});

function containsFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value && typeof value === 'object') {
    if (Object.getPrototypeOf(value) !== null && !Array.isArray(value)) return true;
    return Object.values(value).some(containsFunction);
  }
  return false;
}
