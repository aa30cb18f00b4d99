/**
 * A run whose history grows long continues as new between top-level steps:
 * the same execution, a fresh history, nothing lost on the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../src/shared/status';
import { DefinitionKey } from '../../src/shared/search-attributes';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  // A low threshold, so a few dozen steps are a "long" run.
  h = await createHarness({ env: { WORKFLOW_CONTINUE_AS_NEW_EVENTS: '60' } });
});

afterAll(async () => {
  await h?.close();
});

const ROUNDS = 12;

function longDefinition() {
  const steps: Record<string, unknown>[] = [{ id: 'first', type: 'set', values: { count: 0, startedWith: '{{ input.seed }}' } }];
  for (let i = 1; i <= ROUNDS; i++) {
    steps.push({ id: `tick${i}`, type: 'delay', duration: '1ms' });
    steps.push({ id: `count${i}`, type: 'set', values: { count: '{{ vars.count + 1 }}' } });
  }
  steps.push({ id: 'hold', type: 'wait_for_signal', signal: 'go', timeout: '1m' });
  steps.push({
    id: 'last',
    type: 'set',
    values: { seedFromFirst: '{{ steps.first.output.startedWith }}', got: '{{ steps.hold.output.data.note }}' },
  });
  return { key: 'long-run', name: 'Long run', category: 'tests', steps };
}

describe('a long run', () => {
  it('continues as new when its history grows long, keeping variables, outputs, events and its mirror row', async () => {
    const created = await h.api('POST', '/api/workflows', longDefinition());
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { seed: 'abc' } });
    expect(started.status).toBe(202);
    const { executionId, workflowId, runId: firstRunId } = started.body as { executionId: string; workflowId: string; runId: string };

    // The event is delivered to whichever run carries the execution by then.
    await eventually(async () => {
      const res = await h.api('POST', `/api/executions/${executionId}/signal`, { signal: 'go', data: { note: 'carried' } });
      return res.status < 300 ? res : undefined;
    }, undefined, 'the run waiting for "go"');

    const handle = h.client.workflow.getHandle(workflowId);
    const result = await handle.result();
    expect(result.status).toBe('SUCCESS');
    expect(result.vars).toMatchObject({ count: ROUNDS, startedWith: 'abc', seedFromFirst: 'abc', got: 'carried' });

    // More than one run, each history short; the first ended by continuing as new.
    const runs: string[] = [];
    for await (const run of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(run.runId);
    expect(runs.length).toBeGreaterThan(1);
    const first = await h.client.workflow.getHandle(workflowId, firstRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    for (const runId of runs) {
      const history = await h.client.workflow.getHandle(workflowId, runId).fetchHistory();
      expect(history.events!.length).toBeLessThan(60 + 40);
    }

    // The last run still carries the definition's search attributes.
    const last = await handle.describe();
    expect(last.runId).not.toBe(firstRunId);
    expect(last.typedSearchAttributes.get(DefinitionKey)).toBe('long-run');

    // One mirror row, settled by the last run, every step logged once.
    const row = await eventually(async () => {
      const r = await h.db.selectFrom('workflow_executions').selectAll().where('id', '=', executionId).executeTakeFirst();
      return r && (TERMINAL_STATUSES as readonly string[]).includes(r.status) ? r : undefined;
    });
    expect(row.status).toBe('SUCCESS');
    expect(row.run_id).toBe(last.runId);
    const completed = await h.db
      .selectFrom('workflow_execution_logs')
      .select('step_id')
      .where('execution_id', '=', executionId)
      .where('event', '=', 'COMPLETED')
      .execute();
    expect(completed).toHaveLength(2 * ROUNDS + 3);
    expect(new Set(completed.map((c) => c.step_id)).size).toBe(completed.length);
  });
});
