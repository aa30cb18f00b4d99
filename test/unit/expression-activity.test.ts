/**
 * Expressions too large for the workflow thread: the in-workflow evaluation
 * hands them to a fallback (an activity in a run), and the activity
 * evaluates them with its own, larger limits, in a child process.
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { EXPRESSION_PROCESS_CPU_SHARE, EXPRESSION_PROCESS_PRIORITY, ExpressionProcess } from '../../activities/expression-process';
import { createExpressionActivities, EXPRESSION_ACTIVITY_STEPS, EXPRESSION_EVALUATIONS_HELD, type ExpressionActivityInput } from '../../activities/expressions';
import { compileExpression, evaluateExpression, type ExpressionScope, HEAVY_EXPRESSION_STEPS, heavyShape, MAX_EVALUATION_STEPS, StepLimitError, MAX_TASK_STEPS, WORKFLOW_EXPRESSION_STEPS } from '../../src/shared/expressions';
import { HOSTILE, inRun, matchesResult } from '../support/hostile-expressions';

const TOTALS = 'input.items.(qty * price)';

function scopeWithItems(count: number): ExpressionScope {
  return { input: { items: Array.from({ length: count }, (_, i) => ({ qty: (i % 5) + 1, price: 2 })) }, vars: {}, steps: {}, run: {} };
}

// The other tests' evaluations run at the test's own priority: what they check does not depend on it.
const shared = new ExpressionProcess({ priority: 0 });
const activities = createExpressionActivities(shared);
afterAll(() => shared.close());

type Activities = ReturnType<typeof createExpressionActivities>;

async function inActivity(input: ExpressionActivityInput, own: Activities = activities, env = new MockActivityEnvironment()) {
  return env.run<[], { value: unknown }, () => Promise<{ value: unknown }>>(() => own.evaluateExpression(input)).then(
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

  it(`stops at a run's own budget (${WORKFLOW_EXPRESSION_STEPS} steps for runs started now), and at ${MAX_EVALUATION_STEPS} without one`, async () => {
    const scope = scopeWithItems(50);
    const fallback = async () => 'elsewhere';
    expect(await evaluateExpression(TOTALS, scope, { task: { used: 0 }, budget: WORKFLOW_EXPRESSION_STEPS, fallback })).toBe('elsewhere');
    await expect(evaluateExpression(TOTALS, scope, { task: { used: 0 }, budget: WORKFLOW_EXPRESSION_STEPS })).rejects.toThrow(
      `more than ${WORKFLOW_EXPRESSION_STEPS} evaluation steps`,
    );
    expect(await evaluateExpression(TOTALS, scope, { task: { used: 0 }, fallback })).toHaveLength(50);
    // A task's expressions together keep the budget of a task: small ones that fit add up to it.
    const task = { used: MAX_TASK_STEPS - 100 };
    const small = '[1..10].($ * 2)'; // about 45 steps
    expect(await evaluateExpression(small, scope, { task, budget: WORKFLOW_EXPRESSION_STEPS, fallback })).toHaveLength(10);
    expect(await evaluateExpression(small, scope, { task, budget: WORKFLOW_EXPRESSION_STEPS, fallback })).toHaveLength(10);
    expect(await evaluateExpression(small, scope, { task, budget: WORKFLOW_EXPRESSION_STEPS, fallback })).toBe('elsewhere');
  });

  it('goes to the fallback when the task budget, not the expression, is spent', async () => {
    const task = { used: 2_400 };
    const value = await evaluateExpression('$sum([1..100].($ * 2))', scopeWithItems(0), { task, fallback: async () => 'elsewhere' });
    expect(value).toBe('elsewhere');
  });

  it('lets the task end when its budget, not the expression, is spent, and evaluates it again in the next, in the thread', async () => {
    const task = { used: 2_400 };
    const events: string[] = [];
    const yieldTask = async () => {
      events.push(`yield at ${task.used > MAX_TASK_STEPS ? 'spent' : 'room'}`);
      task.used = 0;
      return true;
    };
    const fallback = async () => 'elsewhere';
    expect(await evaluateExpression('$sum([1..100].($ * 2))', scopeWithItems(0), { task, yieldTask, fallback })).toBe(10_100);
    expect(events).toEqual(['yield at spent']);
    expect(task.used).toBeGreaterThan(0);
    expect(task.used).toBeLessThan(WORKFLOW_EXPRESSION_STEPS * 3);
  });

  it('leaves an expression to the fallback when the task cannot end, or when its own budget stops it', async () => {
    const refused = await evaluateExpression('$sum([1..100].($ * 2))', scopeWithItems(0), {
      task: { used: 2_400 },
      yieldTask: async () => false,
      fallback: async () => 'elsewhere',
    });
    expect(refused).toBe('elsewhere');
    let yields = 0;
    const large = await evaluateExpression(TOTALS, scopeWithItems(50), {
      task: { used: 0 },
      budget: WORKFLOW_EXPRESSION_STEPS,
      yieldTask: async () => ++yields > 0,
      fallback: async (_source, _data, stopped) => stopped.limit,
    });
    expect(large).toBe('expression');
    expect(yields).toBe(0);
  });
});

describe('an expression heavy by its shape', () => {
  it.each([
    ['($f := function($x){ $f($x) }; $f(1))', 'defines a function'],
    ['$map(input.items, function($v){ $v.qty * $v.price })', 'defines a function'],
    ['$count([1..100000].[1..100000])', 'builds a range of 100000 items'],
    ['$sum(input.items.(qty * price))', undefined],
    ['[1..10000]', undefined],
    ['$sum(input.items)', undefined],
    ['$join($map(input.names, $uppercase), ", ")', undefined],
  ])('%s: %s', (source, why) => {
    expect(heavyShape(compileExpression(source))).toBe(why);
  });

  it(`has ${HEAVY_EXPRESSION_STEPS} steps in the thread, for runs that ask for it: a small function over a few items fits, a runaway one goes outside sooner`, async () => {
    const small = '$sum($map(input.items, function($i){ $i.qty * $i.price }))';
    const runaway = '($f := function($x){ $f($x) }; $f(1))';
    const seen: string[] = [];
    const fallback = async (_source: string, _data: unknown, stopped: StepLimitError) => {
      seen.push(stopped.message);
      return 'elsewhere';
    };
    const options = { budget: WORKFLOW_EXPRESSION_STEPS, shapeBudget: HEAVY_EXPRESSION_STEPS, fallback };
    expect(await evaluateExpression(small, scopeWithItems(3), { task: { used: 0 }, ...options })).toBe(12);
    expect(await evaluateExpression(runaway, scopeWithItems(0), { task: { used: 0 }, ...options })).toBe('elsewhere');
    expect(seen).toEqual([`expression took more than ${HEAVY_EXPRESSION_STEPS} evaluation steps (the limit of one expression)`]);
    // Runs started before the setting give it the budget of any expression.
    seen.length = 0;
    expect(await evaluateExpression(runaway, scopeWithItems(0), { task: { used: 0 }, budget: WORKFLOW_EXPRESSION_STEPS, fallback })).toBe('elsewhere');
    expect(seen).toEqual([`expression took more than ${WORKFLOW_EXPRESSION_STEPS} evaluation steps (the limit of one expression)`]);
    // An expression of another shape keeps the budget of any.
    expect(await evaluateExpression(TOTALS, scopeWithItems(20), { task: { used: 0 }, ...options })).toHaveLength(20);
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

  it('evaluates in a child process at a low priority, with the worker\'s event loop free meanwhile', async () => {
    const evaluator = new ExpressionProcess();
    const own = createExpressionActivities(evaluator);
    let turns = 0;
    let evaluating = true;
    const count = () => {
      if (!evaluating) return;
      turns += 1;
      setImmediate(count);
    };
    setImmediate(count);
    // A small evaluation: at a low priority a large one may wait long for the CPU on a loaded machine.
    expect(await inActivity({ source: TOTALS, data: scopeWithItems(3) }, own)).toEqual({ value: [2, 4, 6] });
    evaluating = false;
    expect(evaluator.pid).toBeDefined();
    expect(evaluator.pid).not.toBe(process.pid);
    expect(getPriority(evaluator.pid!)).toBe(EXPRESSION_PROCESS_PRIORITY);
    expect(turns).toBeGreaterThan(1);
    evaluator.close();
  });

  it('fails an expression that needs more memory than its process has, and evaluates the next one in a new process', async () => {
    // A small heap, so that the expression reaches it long before the CPU limit.
    const evaluator = new ExpressionProcess({ heapMb: 64, priority: 0 });
    const own = createExpressionActivities(evaluator);
    const hog = '$map([1..3000], function($i){ [1..100000] })';
    const { error } = (await inActivity({ source: hog, data: scopeWithItems(0) }, own)) as { error: unknown };
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('ExpressionFailed');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).message).toBe(
      'expression needed more than 64 MB of memory (the memory limit of an expression evaluated outside the workflow thread)',
    );
    expect(await inActivity({ source: TOTALS, data: scopeWithItems(3) }, own)).toEqual({ value: [2, 4, 6] });
    evaluator.close();
  });

  it(`holds ${EXPRESSION_EVALUATIONS_HELD} evaluations at once and refuses one more at once (retried), so expressions leave the worker's other activity slots free`, async () => {
    const evaluator = new ExpressionProcess({ priority: 0 });
    const own = createExpressionActivities(evaluator);
    const endless = { source: '($f := function($x){ $f($x) }; $f(1))', data: scopeWithItems(0) };
    const held = Array.from({ length: EXPRESSION_EVALUATIONS_HELD }, () => inActivity(endless, own));
    expect(evaluator.pending).toBe(EXPRESSION_EVALUATIONS_HELD);
    const { error } = (await inActivity({ source: TOTALS, data: scopeWithItems(2) }, own)) as { error: ApplicationFailure };
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error.type).toBe('ExpressionsBusy');
    expect(error.nonRetryable).toBe(false);
    expect(error.category).toBe(ApplicationFailureCategory.BENIGN);
    // A local activity (runs recorded before the ordinary one) takes no activity slot: it waits its turn.
    const local = inActivity({ source: TOTALS, data: scopeWithItems(2) }, own, new MockActivityEnvironment({ isLocal: true }));
    for (const outcome of await Promise.all(held)) expect((outcome as { error: Error }).error.message).toMatch('evaluation steps');
    expect(await local).toEqual({ value: [2, 4] });
    expect(evaluator.pending).toBe(0);
    expect(await inActivity({ source: TOTALS, data: scopeWithItems(2) }, own)).toEqual({ value: [2, 4] });
    evaluator.close();
  });

  it(`lets the child use ${EXPRESSION_PROCESS_CPU_SHARE * 100}% of a core while it evaluates, stopping it for the rest, and lets it run again after`, async () => {
    const evaluator = new ExpressionProcess({ priority: 0 });
    const own = createExpressionActivities(evaluator);
    const states = new Set<string>();
    // The process state letter of /proc/<pid>/stat: R running, S sleeping, T stopped.
    const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]!;
    const endless = inActivity({ source: '($f := function($x){ $f($x) }; $f(1))', data: scopeWithItems(0) }, own);
    await vi.waitFor(() => expect(evaluator.pid).toBeDefined());
    const pid = evaluator.pid!;
    await vi.waitFor(
      () => {
        states.add(state(pid));
        expect(states.has('T') && states.has('R')).toBe(true);
      },
      { timeout: 30_000, interval: 2 },
    );
    expect((await endless as { error: Error }).error.message).toMatch('evaluation steps');
    // Idle again, the child is not left stopped: the next evaluation gets its answer.
    expect(await inActivity({ source: TOTALS, data: scopeWithItems(2) }, own)).toEqual({ value: [2, 4] });
    expect(state(pid)).not.toBe('T');
    evaluator.close();
  });

  it('ends the evaluation when the activity is cancelled, and the ones queued behind it still run', async () => {
    const evaluator = new ExpressionProcess({ priority: 0 });
    const own = createExpressionActivities(evaluator);
    const env = new MockActivityEnvironment();
    const endless = inActivity({ source: '($f := function($x){ $f($x) }; $f(1))', data: scopeWithItems(0) }, own, env);
    const queued = inActivity({ source: TOTALS, data: scopeWithItems(2) }, own);
    await vi.waitFor(() => expect(evaluator.pid).toBeDefined());
    const pid = evaluator.pid;
    env.cancel('TIMED_OUT');
    expect(await endless).toHaveProperty('error');
    expect(await queued).toEqual({ value: [2, 4] });
    expect(evaluator.pid).not.toBe(pid);
    evaluator.close();
  });
});
