/**
 * A run's expressions (workflows/run/scope.ts): what they see from each frame,
 * which patches they ask and when, and how a failure fails the step; and a
 * step's activity options (workflows/run/activity-options.ts).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Step } from '../../src/shared/definition';
import { ERROR_TYPES, type RunInput } from '../../src/shared/run';
import { defaultTimeoutMs, deliveryKey, stepActivityOptions } from '../../workflows/run/activity-options';
import { ExpressionBudget, Expressions, type Frame } from '../../workflows/run/scope';
import { fake } from './support/fake-workflow';

vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));

const step = { id: 's', type: 'set', values: {} } as Step;
const input = {
  executionId: 'exec-1',
  definition: { id: 'def-1', version: 3, document: { key: 'order', name: 'Order', steps: [] } as never },
  triggerType: 'manual',
  triggerData: { customer: 'Ada' },
  env: { REGION: 'eu' },
} as RunInput;

function frames() {
  const vars: Record<string, unknown> = { total: 3 };
  const top: Frame = { prefix: '', outputs: { fetch: { output: { n: 1 }, status: 'COMPLETED' }, greet: { output: 'top', status: 'COMPLETED' } } };
  const inner: Frame = { prefix: 'loop[0].', outputs: { greet: { output: 'inner', status: 'COMPLETED' } }, loop: { item: 'x', index: 0 }, parent: top };
  const budget = new ExpressionBudget(undefined);
  return { vars, budget, top: new Expressions(input, vars, top, budget), inner: new Expressions(input, vars, inner, budget) };
}

beforeEach(() => fake.reset());

// The unit project shares a process between files: give the next file the real clock back.
afterAll(() => vi.useRealTimers());

describe('a frame\'s expressions', () => {
  it('see the trigger, variables, env, the run, and step outputs of the frame over those around it', () => {
    const { inner } = frames();
    const scope = inner.scope();
    expect(scope.input).toEqual({ customer: 'Ada' });
    expect(scope.vars).toEqual({ total: 3 });
    expect(scope.env).toEqual({ REGION: 'eu' });
    expect(scope.loop).toEqual({ item: 'x', index: 0 });
    expect(scope.steps).toEqual({ fetch: { output: { n: 1 }, status: 'COMPLETED' }, greet: { output: 'inner', status: 'COMPLETED' } });
    expect(scope.run).toMatchObject({ executionId: 'exec-1', workflowId: 'wf-1', definition: { id: 'def-1', key: 'order', version: 3 } });
  });

  it('render plain paths in a V2 run without a promise and without asking a patch', () => {
    const { top } = frames();
    const fields = top.renderFields({ to: '{{ input.customer }}', n: '{{ vars.total }}' }, step);
    expect(fields).toEqual({ to: 'Ada', n: 3 });
    expect(top.renderPlainFields({ x: '{{ steps.greet.output }}' }, step)).toEqual({ x: 'top' });
    expect(fake.asked).toEqual([]);
  });

  it('in a V1 run, render in turn (a promise), asking the lean-runs patch', async () => {
    fake.workflowType = 'interpreterWorkflow';
    const { top } = frames();
    const fields = top.renderFields({ to: '{{ input.customer }}' }, step);
    expect(fields).toBeInstanceOf(Promise);
    expect(await fields).toEqual({ to: 'Ada' });
    expect(fake.asked[0]).toBe('lean-runs-2026-11');
  });

  it('decide the guards once, asking the metered patch first, when a run first needs JSONata', async () => {
    fake.patches.add('metered-expressions-2026-12');
    const { top } = frames();
    expect(await top.evaluate('vars.total + 1', step)).toBe(4);
    expect(await top.evaluate('vars.total * 2', step)).toBe(6);
    expect(fake.asked).toEqual(['metered-expressions-2026-12']);
  });

  it('fail the step for good on an expression error, naming it', async () => {
    const { top } = frames();
    const failure = await top.evaluate('$nope(', step).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: ERROR_TYPES.ExpressionFailed, nonRetryable: true });
    expect((failure as Error).message).toMatch(/^step "s": /);
  });

  it('share the run\'s budget, afresh at each workflow task', () => {
    const { budget } = frames();
    budget.options();
    budget.taskBudget.used = 100;
    budget.options();
    expect(budget.taskBudget).toEqual({ task: 3, used: 100 });
    fake.historyLength = 9;
    budget.options();
    expect(budget.taskBudget).toEqual({ task: 9, used: 0 });
  });
});

describe('a step\'s activity options', () => {
  const http = { id: 'call', type: 'http', url: 'u' } as Step;

  it('take the defaults: five attempts, 300 s, no heartbeat', () => {
    expect(defaultTimeoutMs(undefined)).toBe(300_000);
    expect(stepActivityOptions(http, 'GET request', undefined)).toEqual({
      startToCloseTimeout: 300_000,
      retry: { maximumAttempts: 5, initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 60_000, nonRetryableErrorTypes: undefined },
      summary: 'call: GET request',
    });
  });

  it('take the step\'s retry and timeout over them, its name as the summary, and a heartbeat shorter than the timeout', () => {
    const own = { ...http, name: 'Fetch', timeout: '10s', retry: { maximumAttempts: 2, nonRetryableErrorTypes: ['InvalidRecipient'] } } as Step;
    const options = stepActivityOptions(own, 'GET request', { stepHeartbeatTimeoutSeconds: 5 } as never);
    expect(options).toMatchObject({ startToCloseTimeout: 10_000, heartbeatTimeout: 5_000, summary: 'call: Fetch' });
    expect(options.retry).toMatchObject({ maximumAttempts: 2, initialInterval: 1_000, nonRetryableErrorTypes: ['InvalidRecipient'] });
    expect(stepActivityOptions(own, 'x', { stepHeartbeatTimeoutSeconds: 10 } as never).heartbeatTimeout).toBeUndefined();
  });

  it('key deliveries by the workflow and the step path', () => {
    expect(deliveryKey('notify[2].send')).toBe('wf-1/notify[2].send');
  });
});
