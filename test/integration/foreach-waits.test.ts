/**
 * Steps waiting inside a large `foreach` (whose items run in child-workflow
 * chunks) are reachable through the API like any other: their state shows in
 * the run's live state, and events and decisions find them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, eventually, type Harness } from '../support/harness';
import { timerSummaries } from '../support/history';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

describe('a waiting step inside a foreach of more than 500 items', () => {
  it('shows in the live state and takes an event and an approval through the API; nested iterations see loop.parent', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'big-loop-waits',
      name: 'Big loop with waits',
      steps: [
        {
          id: 'each',
          type: 'foreach',
          items: '[1..$number(input.count)]',
          maxItems: 1000,
          steps: [
            {
              id: 'pick',
              type: 'switch',
              value: 'loop.index',
              cases: [
                { equals: 550, steps: [{ id: 'hold', type: 'wait_for_signal', signal: 'release', timeout: '2m' }] },
                { equals: 560, steps: [{ id: 'sign', type: 'approval', role: 'operator', timeout: '2m', onTimeout: 'reject' }] },
                {
                  equals: 570,
                  steps: [
                    {
                      id: 'inner',
                      type: 'foreach',
                      items: '[1, 2]',
                      maxItems: 2,
                      steps: [{ id: 'mark', type: 'set', values: { outerIndex: '{{ loop.parent.index }}' } }],
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { count: 600 } });
    expect(started.status).toBe(202);
    const { executionId, workflowId } = started.body as { executionId: string; workflowId: string };

    // Item 550 runs in the second chunk; the run's live state shows it waiting.
    const live = await eventually(async () => {
      const res = await h.api('GET', `/api/executions/${executionId}`);
      return res.body?.live?.waitingFor?.includes('release') ? res.body.live : undefined;
    }, 60_000, 'the chunk step waiting for "release"');
    expect(live.steps).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'each[550].hold', status: 'WAITING' })]));

    const released = await h.api('POST', `/api/executions/${executionId}/signal`, { signal: 'release', data: { ok: true } });
    expect(released.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body.stepPath).toBe('each[550].hold');

    await eventually(async () => {
      const res = await h.api('GET', `/api/executions/${executionId}`);
      return res.body?.live?.approvals?.some((a: { stepPath: string }) => a.stepPath === 'each[560].sign') ? true : undefined;
    }, 60_000, 'the chunk approval waiting');
    const decided = await h.api('POST', `/api/executions/${executionId}/approvals`, { step: 'each[560].sign', decision: 'approve', comment: 'fine' });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body.stepPath).toBe('each[560].sign');

    // A decision nobody waits for is still refused, with the run's own reason.
    const nobody = await h.api('POST', `/api/executions/${executionId}/signal`, { signal: 'nobody-waits' });
    expect(nobody.status).toBe(409);

    const result = await h.client.workflow.getHandle(workflowId).result();
    expect(result.status).toBe('SUCCESS');
    expect(result.vars).toMatchObject({ outerIndex: 570 });
    const decisions = await h.db.selectFrom('approval_decisions').selectAll().where('execution_id', '=', executionId).execute();
    expect(decisions).toEqual([expect.objectContaining({ step_path: 'each[560].sign', decision: 'approve', comment: 'fine' })]);
  });

  it('pauses a loop of steps that never wait every 100 iterations, so no workflow activation runs long', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'pure-loop',
      name: 'Pure loop',
      steps: [
        { id: 'zero', type: 'set', values: { total: 0 } },
        {
          id: 'sum',
          type: 'foreach',
          items: '[1..250]',
          maxItems: 250,
          steps: [{ id: 'add', type: 'set', values: { total: '{{ vars.total + loop.item }}' } }],
        },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: {} });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    const result = await handle.result();
    expect(result.vars).toEqual({ total: 31_375 });
    // No timers: the loop pauses by writing its progress to the mirror (a local activity) at 100 and 200;
    // the final write, at the end, goes through the worker outside the history.
    expect(await timerSummaries(handle)).toEqual([]);
    const markers = ((await handle.fetchHistory()).events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(markers).toHaveLength(2);
  });
});
