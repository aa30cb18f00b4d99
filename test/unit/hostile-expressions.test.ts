/**
 * The corpus of hostile expressions (test/fixtures/hostile-expressions.json),
 * evaluated as the gateway and new runs evaluate them: each is refused at
 * save, fails with a limit named, or gives plain data, and none reaches the host.
 */
import { describe, expect, it } from 'vitest';
import { compileExpression, evaluateExpression, ExpressionError, type ExpressionScope, MAX_TASK_STEPS } from '../../src/shared/expressions';
import { HOSTILE, matchesResult } from '../support/hostile-expressions';

const scope: ExpressionScope = { input: { name: 'Ada' }, vars: {}, steps: {}, run: {} };

describe('hostile expressions', () => {
  it('has at least 30 entries, each with a known outcome', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(30);
    for (const entry of HOSTILE) expect(['refused', 'fails', 'ok'], entry.name).toContain(entry.outcome);
  });

  it.each(HOSTILE.map((e) => [e.name, e] as const))('%s', async (_name, entry) => {
    if (entry.outcome === 'refused') {
      expect(() => compileExpression(entry.expression)).toThrow(new RegExp(entry.error!));
      return;
    }
    const task = { used: 0 };
    const outcome = await evaluateExpression(entry.expression, scope, { task }).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (entry.outcome === 'fails') {
      expect('error' in outcome, `${entry.expression} should fail`).toBe(true);
      const error = (outcome as { error: unknown }).error;
      expect(error).toBeInstanceOf(ExpressionError);
      expect((error as ExpressionError).message).toMatch(new RegExp(entry.error!));
      expect((error as ExpressionError).expression).toBe(entry.expression);
    } else {
      expect(outcome, entry.expression).not.toHaveProperty('error');
      const { value } = outcome as { value: unknown };
      expect(matchesResult(value, entry.result), `${entry.expression} gave ${JSON.stringify(value)?.slice(0, 200)}`).toBe(true);
    }
  });

  it('left no prototype polluted', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('counts every expression of a task against the task budget', async () => {
    const task = { used: 0 };
    // Each is within one expression's budget; together they are not.
    const heavy = '$sum([1..400].($ * 2))';
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await evaluateExpression(heavy, scope, { task }).then(() => 'ok', (e: Error) => e.message));
    expect(outcomes[0]).toBe('ok');
    expect(outcomes.at(-1)).toMatch(new RegExp(`more than ${MAX_TASK_STEPS} evaluation steps in one workflow task`));
  });
});
