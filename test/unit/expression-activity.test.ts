/**
 * Expressions too large for the workflow thread: the in-workflow evaluation
 * hands them to a fallback (a local activity in a run), and the activity
 * evaluates them with its own, larger limits.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createExpressionActivities, EXPRESSION_ACTIVITY_STEPS, type ExpressionActivityInput } from '../../activities/expressions';
import { evaluateExpression, type ExpressionScope, MAX_EVALUATION_STEPS, StepLimitError } from '../../src/shared/expressions';
import { HOSTILE, inRun, matchesResult } from '../support/hostile-expressions';

const TOTALS = 'input.items.(qty * price)';

function scopeWithItems(count: number): ExpressionScope {
  return { input: { items: Array.from({ length: count }, (_, i) => ({ qty: (i % 5) + 1, price: 2 })) }, vars: {}, steps: {}, run: {} };
}

const activities = createExpressionActivities();

async function inActivity(input: ExpressionActivityInput) {
  return new MockActivityEnvironment().run<[], { value: unknown }, () => Promise<{ value: unknown }>>(() => activities.evaluateExpression(input)).then(
    (answer) => ({ value: answer.value }),
    (error: unknown) => ({ error }),
  );
}

describe('an expression past the workflow thread’s step budgets', () => {
  it.each([1_000, 10_000])('%d line totals: stopped in the workflow thread, computed by the activity', async (count) => {
    const scope = scopeWithItems(count);
    await expect(evaluateExpression(TOTALS, scope, { task: { used: 0 } })).rejects.toThrow(StepLimitError);
    await expect(evaluateExpression(TOTALS, scope, { task: { used: 0 } })).rejects.toThrow(`more than ${MAX_EVALUATION_STEPS} evaluation steps`);
    const outcome = await inActivity({ source: TOTALS, data: scope });
    expect(outcome).toEqual({ value: Array.from({ length: count }, (_, i) => ((i % 5) + 1) * 2) });
  });

  it('goes to the fallback with the data it saw, and its result is checked like any', async () => {
    const seen: { source: string; data: unknown; message: string }[] = [];
    const value = await evaluateExpression(TOTALS, scopeWithItems(1_000), {
      task: { used: 0 },
      fallback: async (source, data, stopped) => {
        seen.push({ source, data, message: stopped.message });
        return 'computed elsewhere';
      },
    });
    expect(value).toBe('computed elsewhere');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.source).toBe(TOTALS);
    expect((seen[0]!.data as { input: { items: unknown[] } }).input.items).toHaveLength(1_000);
    expect(seen[0]!.message).toMatch(`more than ${MAX_EVALUATION_STEPS} evaluation steps`);
    await expect(evaluateExpression(TOTALS, scopeWithItems(1_000), { fallback: async () => 'x'.repeat(2_000_000) })).rejects.toThrow('result is larger than');
  });

  it('does not go to the fallback for the other limits, nor for an expression that fits', async () => {
    let calls = 0;
    const fallback = async () => ++calls;
    await expect(evaluateExpression('($f := function($x){ 1 + $f($x) }; $f(1))', scopeWithItems(0), { fallback })).rejects.toThrow('deeper than 200 levels');
    await expect(evaluateExpression('$error("stop")', scopeWithItems(0), { fallback })).rejects.toThrow('stop');
    expect(await evaluateExpression(TOTALS, scopeWithItems(10), { fallback })).toHaveLength(10);
    expect(calls).toBe(0);
  });

  it('goes to the fallback when the task budget, not the expression, is spent', async () => {
    const task = { used: 2_400 };
    const value = await evaluateExpression('$sum([1..100].($ * 2))', scopeWithItems(0), { task, fallback: async () => 'elsewhere' });
    expect(value).toBe('elsewhere');
  });
});

describe('the evaluateExpression activity', () => {
  const cases = ['unbounded tail recursion', 'a sort of a large range', 'a search that never finds', 'a filter by a built-in over a long range', '$string of a large list, many times'];

  it.each(cases)('%s ends as it does in a run', async (name) => {
    const entry = HOSTILE.find((e) => e.name === name)!;
    const expected = inRun(entry);
    const outcome = await inActivity({ source: entry.expression, data: scopeWithItems(0) });
    if (expected.outcome === 'ok') {
      expect(outcome).not.toHaveProperty('error');
      expect(matchesResult((outcome as { value: unknown }).value, expected.result)).toBe(true);
      return;
    }
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('ExpressionFailed');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).message).toMatch(new RegExp(expected.error!));
  });

  it(`names its step limit (${EXPRESSION_ACTIVITY_STEPS}) when an expression reaches it`, async () => {
    const outcome = await inActivity({ source: '($f := function($x){ $f($x) }; $f(1))', data: scopeWithItems(0) });
    expect((outcome as { error: Error }).error.message).toMatch(
      `more than ${EXPRESSION_ACTIVITY_STEPS} evaluation steps (the limit of an expression evaluated outside the workflow thread)`,
    );
  });

  it('gives the event loop turns while it evaluates', async () => {
    let turns = 0;
    let evaluating = true;
    const count = () => {
      if (!evaluating) return;
      turns += 1;
      setImmediate(count);
    };
    setImmediate(count);
    await inActivity({ source: TOTALS, data: scopeWithItems(10_000) });
    evaluating = false;
    expect(turns).toBeGreaterThan(1);
  });
});
