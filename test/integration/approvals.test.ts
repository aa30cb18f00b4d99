/**
 * Approvals on the real dev server: named approvers and a quorum, a veto, a
 * role instead of names, the escalation ladder and the automatic decision at
 * the timeout — and every decision in the approval_decisions table; the list
 * of those waiting, with each run's definition, version and trigger data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { findExecution } from '../../db/executions';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
const keys: Record<string, string> = {};
let serial = 0;

beforeAll(async () => {
  h = await createHarness();
  for (const [name, role] of [['alice', 'operator'], ['bob', 'operator'], ['carol', 'operator'], ['root', 'admin']] as const) {
    keys[name] = (await createApiKey(h.db, { name, role })).key;
  }
});

afterAll(async () => {
  await h?.close();
});

async function start(approval: Record<string, unknown>, triggerData: Record<string, unknown> = {}) {
  const key = `approval-${++serial}`;
  const def = await h.api('POST', '/api/workflows', {
    key,
    name: key,
    steps: [
      { id: 'review', type: 'approval', ...approval },
      { id: 'result', type: 'set', values: { outcome: '{{ steps.review.output.outcome }}' } },
    ],
  });
  expect(def.status, JSON.stringify(def.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  await eventually(async () => ((await findExecution(h.db, started.body.executionId))?.current_step === 'review' ? true : undefined));
  return { key, executionId: started.body.executionId as string, handle: h.client.workflow.getHandle(started.body.workflowId) };
}

function decide(executionId: string, who: string, decision: 'approve' | 'reject', comment?: string) {
  return h.api('POST', `/api/executions/${executionId}/approvals`, { step: 'review', decision, comment }, {}, { key: keys[who] });
}

async function decisions(executionId: string) {
  return h.db.selectFrom('approval_decisions').selectAll().where('execution_id', '=', executionId).orderBy('sequence').execute();
}

describe('approval', () => {
  it('needs the quorum of named approvers, refuses others and second votes, and records each decision', async () => {
    const run = await start({ approvers: ['alice', 'bob'], required: 2, timeout: '1h', onTimeout: 'reject' });

    const first = await decide(run.executionId, 'alice', 'approve', 'looks right');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ accepted: true, stepPath: 'review', sequence: 1, by: 'alice' });
    // The decision is in Postgres while the run still waits for the second one.
    await eventually(async () => ((await decisions(run.executionId)).length === 1 ? true : undefined));
    const live = await h.api('GET', `/api/executions/${run.executionId}`);
    expect(live.body.live.approvals[0]).toMatchObject({ stepPath: 'review', required: 2, approvers: ['alice', 'bob'] });

    const outsider = await decide(run.executionId, 'carol', 'approve');
    expect(outsider.status).toBe(409);
    expect(outsider.body).toMatchObject({ code: 'decision_refused', detail: expect.stringMatching(/"carol" may not decide step "review"; approvers: alice, bob/) });
    const twice = await decide(run.executionId, 'alice', 'approve');
    expect(twice.body.detail).toMatch(/already decided/);

    expect((await decide(run.executionId, 'bob', 'approve')).status).toBe(200);
    expect((await run.handle.result()).vars).toEqual({ outcome: 'approved' });
    const rows = await decisions(run.executionId);
    expect(rows.map((r) => [r.decided_by, r.via_key, r.decision, r.comment, r.automatic])).toEqual([
      ['alice', 'alice', 'approve', 'looks right', false],
      ['bob', 'bob', 'approve', null, false],
    ]);
  });

  it('lets only an admin key decide in someone else\'s name, and records through which key', async () => {
    const run = await start({ approvers: ['alice'], timeout: '1h', onTimeout: 'reject' });
    const path = `/api/executions/${run.executionId}/approvals`;
    const impersonation = await h.api('POST', path, { step: 'review', decision: 'approve', by: 'alice' }, {}, { key: keys.carol });
    expect(impersonation.status).toBe(403);
    expect(impersonation.body.errors[0].path).toBe('$.body.by');
    const onBehalf = await h.api('POST', path, { step: 'review', decision: 'approve', by: 'alice', comment: 'by phone' }, {}, { key: keys.root });
    expect(onBehalf.status).toBe(200);
    await run.handle.result();
    expect((await decisions(run.executionId)).map((r) => [r.decided_by, r.via_key])).toEqual([['alice', 'root']]);
  });

  it('lets one rejection decide against', async () => {
    const run = await start({ approvers: ['alice', 'bob'], required: 2, timeout: '1h', onTimeout: 'approve' });
    expect((await decide(run.executionId, 'bob', 'reject', 'budget is spent')).status).toBe(200);
    expect((await run.handle.result()).vars).toEqual({ outcome: 'rejected' });
  });

  it('accepts any caller with the named role or higher', async () => {
    const run = await start({ role: 'admin', timeout: '1h', onTimeout: 'reject' });
    const operator = await decide(run.executionId, 'alice', 'approve');
    expect(operator.body.detail).toMatch(/needs a decider with role admin/);
    expect((await decide(run.executionId, 'root', 'approve')).status).toBe(200);
    expect((await run.handle.result()).vars).toEqual({ outcome: 'approved' });
  });

  it('climbs the escalation ladder, then decides on its own at the timeout', async () => {
    // Rungs a second apart: each rung's steps are done long before the next timer fires, even when a
    // loaded machine takes a few hundred ms per workflow task, so the order below is the ladder's.
    const run = await start({
      approvers: ['alice'],
      escalation: [
        { after: '1s', steps: [{ id: 'remindLead', type: 'set', values: { reminded: 'lead' } }] },
        { after: '2s', steps: [{ id: 'remindDirector', type: 'set', values: { reminded: 'director' } }] },
      ],
      timeout: '3s',
      onTimeout: 'reject',
    });
    const result = await run.handle.result();
    expect(result.vars).toEqual({ reminded: 'director', outcome: 'rejected' });
    const rows = await decisions(run.executionId);
    expect(rows.map((r) => [r.decided_by, r.decision, r.automatic])).toEqual([['system', 'reject', true]]);
    const logs = await h.api('GET', `/api/executions/${run.executionId}`);
    const order = logs.body.logs.filter((l: { event: string }) => l.event === 'COMPLETED').map((l: { stepPath: string }) => l.stepPath);
    expect(order).toEqual(['remindLead', 'remindDirector', 'review', 'result']);
  });

  it("tells Temporal's stack-trace query where a waiting run waits, in a few frames to each promise", async () => {
    const run = await start({ approvers: ['alice'], timeout: '1h', onTimeout: 'reject' });
    // What the Web UI's stack-trace tab shows: each waiting promise's frames, source-mapped.
    const trace = await run.handle.query<string>('__stack_trace');
    expect(trace).toMatch(/at decidedBefore \(.*workflows\/steps\/approval\.ts:\d+:\d+\)/);
    // The sandbox keeps six frames per trace (workflows/sandbox.ts): the hook's own one is cut, five are shown.
    for (const stack of trace.split(/\n\n+/)) expect(stack.split('\n').filter((line) => line.trim().startsWith('at ')).length).toBeLessThanOrEqual(5);
    expect((await decide(run.executionId, 'alice', 'approve')).status).toBe(200);
    await run.handle.result();
  });

  it('lists the approvals waiting, and those each caller may still decide', async () => {
    const run = await start({ approvers: ['alice', 'bob'], required: 2, timeout: '1h', onTimeout: 'reject' }, { requestId: 'PR-7' });
    const inbox = async (who: string) => (await h.api('GET', '/api/approvals?mine=true', undefined, {}, { key: keys[who] })).body.items;
    const mine = (items: { executionId: string }[]) => items.filter((i) => i.executionId === run.executionId);
    expect(mine(await inbox('alice'))).toEqual([
      expect.objectContaining({
        definitionKey: run.key,
        definitionName: run.key,
        definitionVersion: 1,
        triggerData: { requestId: 'PR-7' },
        stepPath: 'review',
        approvers: ['alice', 'bob'],
        required: 2,
        decisions: [],
        mayDecide: true,
      }),
    ]);
    expect(mine(await inbox('carol'))).toEqual([]);
    expect((await decide(run.executionId, 'alice', 'approve', 'ok')).status).toBe(200);
    // Decided by Alice: off her list, still on Bob's, with her decision.
    await eventually(async () => (mine(await inbox('alice')).length === 0 ? true : undefined));
    expect(mine(await inbox('bob'))[0]).toMatchObject({ mayDecide: true, decisions: [{ by: 'alice', decision: 'approve', comment: 'ok' }] });
    const all = (await h.api('GET', '/api/approvals')).body.items;
    expect(mine(all)).toEqual([expect.objectContaining({ mayDecide: false })]);
    expect((await decide(run.executionId, 'bob', 'approve')).status).toBe(200);
    await run.handle.result();
    expect(mine((await h.api('GET', '/api/approvals')).body.items)).toEqual([]);
  });

  it("lists trigger data up to 8 KiB with each approval, and leaves larger data to the run's page", async () => {
    const run = await start({ approvers: ['alice'], timeout: '1h', onTimeout: 'reject' }, { note: 'x'.repeat(9000) });
    const listed = (await h.api('GET', '/api/approvals')).body.items.filter((i: { executionId: string }) => i.executionId === run.executionId);
    expect(listed).toEqual([expect.objectContaining({ triggerData: null, definitionVersion: 1 })]);
    expect((await decide(run.executionId, 'alice', 'approve')).status).toBe(200);
    await run.handle.result();
  });

  it('refuses a definition that does not say who decides, or whose ladder outlasts its timeout', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: 'bad-approval',
      name: 'Bad approval',
      steps: [
        {
          id: 'review',
          type: 'approval',
          timeout: '1h',
          onTimeout: 'reject',
          escalation: [{ after: '2h', steps: [{ id: 'x', type: 'set', values: {} }] }],
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['$.steps[0].approvers', '$.steps[0].escalation[0].after']);
  });
});
