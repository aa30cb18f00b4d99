/**
 * Moving waiting runs onto a new definition version, on the real dev server:
 * a run waiting on an approval keeps its decisions and goes on with the new
 * version's steps; a run waiting on a delay ends when the new duration,
 * counted from when it began to wait, is up; the dry run changes nothing;
 * runs whose waiting step has no counterpart are refused while the rest move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { findExecution, listExecutionLogs } from '../../db/executions';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await createHarness();
  for (const name of ['alice', 'bob']) keys[name] = (await createApiKey(h.db, { name, role: 'operator' })).key;
});

afterAll(async () => {
  await h?.close();
});

async function define(key: string, steps: unknown[]) {
  const created = await h.api('POST', '/api/workflows', { key, name: key, steps });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

async function newVersion(key: string, steps: unknown[]) {
  const updated = await h.api('PUT', `/api/workflows/${key}`, { name: key, steps });
  expect(updated.status, JSON.stringify(updated.body)).toBe(200);
}

/** Starts a run and waits until the mirror shows it at `step`. */
async function startWaiting(key: string, step: string, triggerData: Record<string, unknown> = {}) {
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const executionId = started.body.executionId as string;
  const handle = h.client.workflow.getHandle(started.body.workflowId);
  // Waiting, as the run itself says (the mirror shows the step a moment before the run waits on it).
  await eventually(async () => ((await handle.query<{ movableAt?: string }>('state')).movableAt === step ? true : undefined));
  return { executionId, handle };
}

function migrate(key: string, body: Record<string, unknown>) {
  return h.api('POST', `/api/workflows/${key}/migrate`, body);
}

describe('moving waiting runs to a new version', () => {
  it('moves a run waiting on an approval: its decisions, variables and outputs go with it; earlier new steps do not run', async () => {
    const key = 'migrate-approval';
    await define(key, [
      { id: 'prepare', type: 'set', values: { order: '{{ input.order }}' } },
      { id: 'approve', type: 'approval', approvers: ['alice', 'bob'], required: 2, timeout: '1h', onTimeout: 'reject' },
      { id: 'finish', type: 'set', values: { version: 1 } },
    ]);
    const run = await startWaiting(key, 'approve', { order: 'A-17' });
    const first = await h.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'approve', decision: 'approve' }, {}, { key: keys.alice });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    await eventually(async () => ((await h.db.selectFrom('approval_decisions').select('id').where('execution_id', '=', run.executionId).execute()).length === 1 ? true : undefined));

    await newVersion(key, [
      { id: 'prepare', type: 'set', values: { order: '{{ input.order }}' } },
      { id: 'audit', type: 'set', values: { audited: true } },
      { id: 'approve', type: 'approval', approvers: ['alice', 'bob'], required: 2, timeout: '2h', onTimeout: 'reject' },
      { id: 'finish', type: 'set', values: { version: 2, order: '{{ steps.prepare.output.order }}', outcome: '{{ steps.approve.output.outcome }}' } },
    ]);

    const dry = await migrate(key, { fromVersion: 1, toVersion: 2, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, total: 1, movable: 1, moved: 0, refused: 0, more: false });
    expect(dry.body.runs[0]).toEqual({
      executionId: run.executionId,
      workflowId: expect.any(String),
      waitingAt: 'approve',
      waitingType: 'approval',
      continuesAt: 'approve',
      continuesType: 'approval',
      notRun: ['audit'],
      passedRemoved: [],
      stepChanged: true,
    });
    // The dry run changed nothing: same version, no log, no audit.
    expect((await findExecution(h.db, run.executionId))?.definition_version).toBe(1);
    expect((await listExecutionLogs(h.db, run.executionId)).some((l) => l.event === 'MIGRATED')).toBe(false);

    const noReason = await migrate(key, { fromVersion: 1, toVersion: 2 });
    expect(noReason.status).toBe(400);
    expect(noReason.body.detail).toMatch(/say why the runs move/);

    const moved = await migrate(key, { fromVersion: 1, toVersion: 2, reason: 'approvals get a longer timeout' });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toMatchObject({ dryRun: false, total: 1, moved: 1, refused: 0 });
    expect(moved.body.runs[0]).toMatchObject({ outcome: 'MOVED', continuesAt: 'approve' });

    // The mirror row follows the run onto version 2, and the step log says why.
    await eventually(async () => ((await findExecution(h.db, run.executionId))?.definition_version === 2 ? true : undefined));
    const logs = await listExecutionLogs(h.db, run.executionId);
    expect(logs.find((l) => l.event === 'MIGRATED')).toMatchObject({
      step_id: 'approve',
      message: expect.stringMatching(/moved to version 2 at step "approve" by .+: approvals get a longer timeout/),
    });
    // Alice's decision was carried: she may not decide again, and Bob's makes the quorum.
    await eventually(async () => ((await run.handle.query<{ movableAt?: string }>('state')).movableAt === 'approve' ? true : undefined));
    const again = await h.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'approve', decision: 'approve' }, {}, { key: keys.alice });
    expect(again.body.detail).toMatch(/already decided/);
    const second = await h.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'approve', decision: 'approve' }, {}, { key: keys.bob });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.sequence).toBe(2);

    const result = await run.handle.result();
    expect(result.vars).toEqual({ order: 'A-17', version: 2, outcome: 'approved' });
    // The step added before the waiting one never ran.
    expect((await listExecutionLogs(h.db, run.executionId)).some((l) => l.step_id === 'audit')).toBe(false);
    await eventually(async () => ((await findExecution(h.db, run.executionId))?.status === 'SUCCESS' ? true : undefined));

    const audit = await h.db.selectFrom('audit_log').selectAll().where('action', '=', 'definition.migrate').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ reason: 'approvals get a longer timeout', filter: { definition: key, fromVersion: 1, toVersion: 2, stepMap: {} } });
    expect(audit.outcome).toMatchObject({ total: 1, moved: 1, refused: [] });
  });

  it('moves a run waiting on a delay: the new duration counts from when it began to wait', async () => {
    const key = 'migrate-delay';
    await define(key, [
      { id: 'pause', type: 'delay', duration: '1h' },
      { id: 'finish', type: 'set', values: { version: 1 } },
    ]);
    const run = await startWaiting(key, 'pause');
    const waitStarted = (await listExecutionLogs(h.db, run.executionId)).find((l) => l.step_id === 'pause' && l.event === 'STARTED')!.timestamp;
    await newVersion(key, [
      { id: 'pause', type: 'delay', duration: '6s' },
      { id: 'finish', type: 'set', values: { version: 2 } },
    ]);

    const moved = await migrate(key, { fromVersion: 1, toVersion: 2, reason: 'shorter cooling-off' });
    expect(moved.body).toMatchObject({ moved: 1, refused: 0 });
    const result = await run.handle.result();
    expect(result.vars).toEqual({ version: 2 });
    const row = await eventually(async () => {
      const r = await findExecution(h.db, run.executionId);
      return r?.status === 'SUCCESS' ? r : undefined;
    });
    expect(row.definition_version).toBe(2);
    // Not an hour, and not six seconds from the move either: six from when the wait began.
    const pause = (await listExecutionLogs(h.db, run.executionId)).filter((l) => l.step_id === 'pause' && l.event === 'COMPLETED').at(-1)!;
    expect(pause.timestamp.getTime() - waitStarted.getTime()).toBeGreaterThanOrEqual(6_000);
    expect(pause.timestamp.getTime() - waitStarted.getTime()).toBeLessThan(60_000);
  });

  it('refuses runs whose waiting step the new version lacks, moves them with a step map, and checks the map', async () => {
    const key = 'migrate-renamed';
    await define(key, [
      { id: 'review', type: 'approval', approvers: ['alice'], timeout: '1h', onTimeout: 'reject' },
      { id: 'finish', type: 'set', values: { version: 1 } },
    ]);
    const runs = [await startWaiting(key, 'review'), await startWaiting(key, 'review')];
    await newVersion(key, [
      { id: 'managerReview', type: 'approval', approvers: ['bob'], timeout: '1h', onTimeout: 'reject' },
      { id: 'finish', type: 'set', values: { version: 2, decidedBy: '{{ steps.managerReview.output.decisions[0].by }}' } },
    ]);

    const unmapped = await migrate(key, { fromVersion: 1, toVersion: 2, reason: 'new approver' });
    expect(unmapped.status).toBe(200);
    expect(unmapped.body).toMatchObject({ total: 2, moved: 0, refused: 2 });
    expect(unmapped.body.runs[0].refused).toMatch(/step "review" is not a top-level step of the new version; map the waiting step/);
    expect((await findExecution(h.db, runs[0]!.executionId))?.definition_version).toBe(1);

    const badMap = await migrate(key, { fromVersion: 1, toVersion: 2, stepMap: { review: 'nowhere' }, reason: 'new approver' });
    expect(badMap.status).toBe(400);
    expect(badMap.body.detail).toMatch(/stepMap: "nowhere" \(for "review"\) is not a top-level step of the new version/);
    const sameVersion = await migrate(key, { fromVersion: 1, toVersion: 1, dryRun: true });
    expect(sameVersion.status).toBe(422);
    expect(sameVersion.body.detail).toMatch(/both 1: there is nothing to move/);
    const missing = await migrate(key, { fromVersion: 1, toVersion: 7, dryRun: true });
    expect(missing.status).toBe(404);

    const mapped = await migrate(key, { fromVersion: 1, toVersion: 2, stepMap: { review: 'managerReview' }, reason: 'new approver' });
    expect(mapped.body, JSON.stringify(mapped.body)).toMatchObject({ total: 2, moved: 2, refused: 0 });
    for (const run of runs) {
      await eventually(async () => ((await run.handle.query<{ movableAt?: string }>('state')).movableAt === 'managerReview' ? true : undefined));
      // The new approver decides; the old one no longer may.
      const old = await h.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'managerReview', decision: 'approve' }, {}, { key: keys.alice });
      expect(old.status).toBe(409);
      const ok = await h.api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'managerReview', decision: 'approve' }, {}, { key: keys.bob });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect((await run.handle.result()).vars).toEqual({ version: 2, decidedBy: 'bob' });
    }
    // Nothing of version 1 is left waiting.
    const again = await migrate(key, { fromVersion: 1, toVersion: 2, dryRun: true });
    expect(again.body).toMatchObject({ total: 0 });
  });
});
