/**
 * New runs start as interpreterWorkflowV2, which records no patch markers and
 * writes its final mirror state outside its history; runs of the first type,
 * interpreterWorkflow, still run as they did, patches and final local
 * activity included, and start their children as their own type.
 */
import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDefinition, getDefinitionVersion } from '../../db/definitions';
import { findExecution, insertExecution, listExecutionLogs } from '../../db/executions';
import type { Definition } from '../../src/shared/definition';
import { interpreterStartOptions, mirrorRow } from '../../src/executions/start';
import { INTERPRETER_WORKFLOW, INTERPRETER_WORKFLOW_V1 } from '../../src/shared/run';
import { workflowIdFor } from '../../src/temporal/client';
import { createHarness, eventually, type Harness } from '../support/harness';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

const STEPS = [
  { id: 'greet', type: 'set', values: { who: '{{ input.name }}', total: '{{ input.total }}' } },
  {
    id: 'size',
    type: 'condition',
    condition: 'vars.total > 100',
    then: [{ id: 'big', type: 'set', values: { tier: 'big' } }],
    else: [{ id: 'small', type: 'set', values: { tier: 'small' } }],
  },
  { id: 'done', type: 'succeed', output: { tier: '{{ vars.tier }}' } },
];

async function createDefinition(key: string, steps: unknown[] = STEPS): Promise<string> {
  const created = await h.api('POST', '/api/workflows', { key, name: `Types ${key}`, steps });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

/** A run started as the first workflow type, with what the gateway would give it. */
async function startFirstType(definitionId: string, triggerData: Record<string, unknown>) {
  const definition = (await findDefinition(h.db, definitionId))!;
  const stored = (await getDefinitionVersion(h.db, definitionId, definition.current_version))!;
  const executionId = randomUUID();
  const workflowId = workflowIdFor(definition.key, executionId);
  await insertExecution(h.db, mirrorRow(definition, definition.current_version, executionId, workflowId, 'manual', triggerData));
  const run = { definition, version: definition.current_version, document: stored.document as Definition, executionId, workflowId, triggerType: 'manual' as const, triggerData };
  const handle = await h.client.workflow.start(INTERPRETER_WORKFLOW_V1, interpreterStartOptions(h.config, run));
  return { executionId, workflowId, handle };
}

async function historyOf(workflowId: string) {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const types = (history.events ?? []).map((e) => (temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '').replace(/^EVENT_TYPE_/, ''));
  const closed = history.events?.at(-1)?.eventTime;
  const closedAt = closed ? new Date(Number(closed.seconds) * 1000 + Math.floor((closed.nanos ?? 0) / 1e6)) : undefined;
  return { types, closedAt, workflowType: history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name };
}

describe('interpreter workflow types', () => {
  it('starts new runs as V2: no patch markers or upserts, the mirror final before Temporal closes the run', async () => {
    const id = await createDefinition('types-v2');
    const started = await h.api('POST', `/api/workflows/${id}/execute`, { triggerData: { name: 'Ada', total: 180 } });
    expect(started.status).toBe(202);
    const result = await h.client.workflow.getHandle(started.body.workflowId).result();
    expect(result).toMatchObject({ status: 'SUCCESS', output: { tier: 'big' } });

    const history = await historyOf(started.body.workflowId);
    expect(history.workflowType).toBe(INTERPRETER_WORKFLOW);
    expect(history.types).not.toContain('MARKER_RECORDED');
    expect(history.types).not.toContain('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES');
    // Pure steps only: one workflow task, nothing else between start and completion.
    expect(history.types).toEqual([
      'WORKFLOW_EXECUTION_STARTED',
      'WORKFLOW_TASK_SCHEDULED',
      'WORKFLOW_TASK_STARTED',
      'WORKFLOW_TASK_COMPLETED',
      'WORKFLOW_EXECUTION_COMPLETED',
    ]);

    // The worker wrote the final row before it reported the completion: no reconciler needed.
    const row = (await findExecution(h.db, started.body.executionId))!;
    expect(row.status).toBe('SUCCESS');
    expect(row.run_id).toBe(started.body.runId);
    expect(row.finished_at).toBeInstanceOf(Date);
    expect(row.updated_at.getTime()).toBeLessThanOrEqual(history.closedAt!.getTime());
    const logs = await listExecutionLogs(h.db, started.body.executionId);
    expect(logs.map((l) => `${l.step_path}:${l.event}`)).toEqual([
      'greet:STARTED',
      'greet:COMPLETED',
      'size:STARTED',
      'big:STARTED',
      'big:COMPLETED',
      'size:COMPLETED',
      'done:STARTED',
      'done:COMPLETED',
    ]);
  });

  it('records a failed V2 run as FAILED in the mirror, with the failing step', async () => {
    const id = await createDefinition('types-v2-failed', [
      { id: 'first', type: 'set', values: { ok: true } },
      { id: 'boom', type: 'fail', message: 'stopped on purpose' },
    ]);
    const started = await h.api('POST', `/api/workflows/${id}/execute`, { triggerData: {} });
    await expect(h.client.workflow.getHandle(started.body.workflowId).result()).rejects.toThrow();
    const row = (await findExecution(h.db, started.body.executionId))!;
    expect(row.status).toBe('FAILED');
    expect(row.error).toMatch(/stopped on purpose/);
    const logs = await listExecutionLogs(h.db, started.body.executionId);
    expect(logs.map((l) => `${l.step_path}:${l.event}`)).toContain('boom:FAILED');
  });

  it('still runs the first type as it ran: its patches and a final local activity in history', async () => {
    const id = await createDefinition('types-v1');
    const run = await startFirstType(id, { name: 'Bo', total: 20 });
    expect(await run.handle.result()).toMatchObject({ status: 'SUCCESS', output: { tier: 'small' } });

    const history = await historyOf(run.workflowId);
    expect(history.workflowType).toBe(INTERPRETER_WORKFLOW_V1);
    // The lean-runs and bounded-expressions patch markers, and the final mirror write (a local activity marker).
    expect(history.types.filter((t) => t === 'MARKER_RECORDED')).toHaveLength(3);
    // The SDK's TemporalChangeVersion upsert for the patch.
    expect(history.types).toContain('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES');
    const row = (await findExecution(h.db, run.executionId))!;
    expect(row.status).toBe('SUCCESS');
    const logs = await listExecutionLogs(h.db, run.executionId);
    expect(logs.map((l) => `${l.step_path}:${l.event}`)).toContain('small:COMPLETED');
  });

  it('starts the children of a first-type run as the first type, and of a V2 run as V2', async () => {
    await createDefinition('types-child', [{ id: 'echo', type: 'set', values: { seen: '{{ input.n }}' } }]);
    const parentId = await createDefinition('types-parent', [{ id: 'callChild', type: 'call', definition: 'types-child', input: { n: 7 } }]);

    const first = await startFirstType(parentId, {});
    await first.handle.result();
    const v2 = await h.api('POST', `/api/workflows/${parentId}/execute`, { triggerData: {} });
    await h.client.workflow.getHandle(v2.body.workflowId).result();

    const childTypes = async (parentWorkflowId: string) => {
      const types: string[] = [];
      await eventually(async () => {
        types.length = 0;
        for await (const wf of h.client.workflow.list({ query: `ParentWorkflowId = '${parentWorkflowId}'` })) types.push(wf.type);
        return types.length > 0 ? types : undefined;
      }, undefined, 'the child run in visibility');
      return types;
    };
    expect(await childTypes(first.workflowId)).toEqual([INTERPRETER_WORKFLOW_V1]);
    expect(await childTypes(v2.body.workflowId)).toEqual([INTERPRETER_WORKFLOW]);
  });
});
