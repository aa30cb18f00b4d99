/**
 * The `call` step: another definition as a child workflow with its own
 * mirror row, waited for or not; and the save-time checks that keep calls
 * pointing at real definitions and out of cycles.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { TriggerType } from '../../src/shared/search-attributes';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  const child = await h.api('POST', '/api/workflows', {
    key: 'child-greet',
    name: 'Greet',
    inputSchema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
    steps: [
      { id: 'pause', type: 'delay', duration: '300ms' },
      { id: 'greet', type: 'set', values: { greeting: 'Hello {{ input.name }}' } },
    ],
  });
  expect(child.status, JSON.stringify(child.body)).toBe(201);
});

afterAll(async () => {
  await h?.close();
});

async function startParent(key: string, steps: unknown[], triggerData: Record<string, unknown>) {
  const def = await h.api('POST', '/api/workflows', { key, name: key, steps });
  expect(def.status, JSON.stringify(def.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status).toBe(202);
  return { executionId: started.body.executionId as string, workflowId: started.body.workflowId as string, handle: h.client.workflow.getHandle(started.body.workflowId) };
}

describe('call', () => {
  it('runs the called definition as a child with its own mirror row, and hands back its result', async () => {
    const parent = await startParent(
      'parent-waits',
      [
        { id: 'greetIt', type: 'call', definition: 'child-greet', input: { name: '{{ input.who }}' } },
        { id: 'use', type: 'set', values: { got: '{{ steps.greetIt.output.vars.greeting }}' } },
      ],
      { who: 'Ada' },
    );
    expect((await parent.handle.result()).vars).toEqual({ got: 'Hello Ada' });

    const childWorkflowId = `child-greet-${parent.workflowId}:greetIt`;
    const child = await findExecution(h.db, childWorkflowId);
    expect(child).toMatchObject({ status: 'SUCCESS', trigger_type: 'call', definition_version: 1 });
    expect(JSON.parse(JSON.stringify(child?.trigger_data))).toEqual({ name: 'Ada' });
    const description = await h.client.workflow.getHandle(childWorkflowId).describe();
    expect(description.typedSearchAttributes.get(TriggerType)).toBe('call');
  });

  it('starts the child and goes on when wait is false', async () => {
    const parent = await startParent('parent-fires', [{ id: 'fire', type: 'call', definition: 'child-greet', input: { name: 'Grace' }, wait: false }], {});
    const result = await parent.handle.result();
    expect(result.status).toBe('SUCCESS');
    const childWorkflowId = `child-greet-${parent.workflowId}:fire`;
    await h.client.workflow.getHandle(childWorkflowId).result();
    await eventually(async () => ((await findExecution(h.db, childWorkflowId))?.status === 'SUCCESS' ? true : undefined));
  });

  it('fails the step, without retrying, when the input does not match the called definition', async () => {
    const parent = await startParent('parent-bad-input', [{ id: 'greetIt', type: 'call', definition: 'child-greet', input: { nom: 'x' } }], {});
    await expect(parent.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await findExecution(h.db, parent.executionId))?.error).toMatch(/\$\.name is required/);
  });

  it('refuses at save time a call to a missing definition, to itself, or round a cycle', async () => {
    const missing = await h.api('POST', '/api/workflows', { key: 'calls-missing', name: 'x', steps: [{ id: 'c', type: 'call', definition: 'nope' }] });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([{ path: '$.steps[0].definition', message: 'no definition has key "nope"' }]);

    const self = await h.api('POST', '/api/workflows', { key: 'calls-self', name: 'x', steps: [{ id: 'c', type: 'call', definition: 'calls-self' }] });
    expect(self.body.errors[0].message).toMatch(/calls its own definition/);

    expect((await h.api('POST', '/api/workflows', { key: 'cycle-b', name: 'B', steps: [{ id: 'b', type: 'set', values: {} }] })).status).toBe(201);
    expect((await h.api('POST', '/api/workflows', { key: 'cycle-a', name: 'A', steps: [{ id: 'a', type: 'call', definition: 'cycle-b' }] })).status).toBe(201);
    const closing = await h.api('PUT', '/api/workflows/cycle-b', { key: 'cycle-b', name: 'B', steps: [{ id: 'b', type: 'call', definition: 'cycle-a' }] });
    expect(closing.status).toBe(400);
    expect(closing.body.errors[0]).toEqual({ path: '$.steps[0].definition', message: 'calls back to "cycle-b": cycle-b → cycle-a → cycle-b' });
  });
});
