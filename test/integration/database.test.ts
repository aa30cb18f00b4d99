/** Migrations and seeding against a real Postgres: both safe to run again. */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, isDatabaseUnavailable, type OutageLogger } from '../../db/client';
import { createDefinition, findDefinition, updateDefinition } from '../../db/definitions';
import { insertExecutions, markExecutionsStarted } from '../../db/execution-starts';
import { applyMirrorUpdate, findExecution, listExecutionLogs } from '../../db/executions';
import { createMigrator, migrateToLatest } from '../../db/migrator';
import { seedTemplates } from '../../db/seed';
import { mirrorRow } from '../../src/executions/start';
import { parseDefinition } from '../../src/shared/definition';
import type { StepLogEvent } from '../../src/shared/run';
import { loadTemplates } from '../../src/templates';
import { createHarness, type Harness } from '../support/harness';
import { silentListener } from '../support/silent-listener';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ worker: false });
});

afterAll(async () => {
  await h?.close();
});

describe('migrations', () => {
  it('are idempotent and create the indexes the deployment guide lists', async () => {
    const again = await migrateToLatest(h.db);
    expect(again.results).toEqual([]);
    const indexes = await sql<{ indexname: string }>`select indexname from pg_indexes where schemaname = 'public'`.execute(h.db);
    const names = indexes.rows.map((r) => r.indexname);
    for (const index of [
      'idx_workflow_enabled',
      'idx_workflow_category',
      'idx_workflow_created_by',
      'idx_execution_workflow_id',
      'idx_execution_status',
      'idx_execution_started_at',
      'idx_log_execution_id',
      'idx_log_timestamp',
    ]) {
      expect(names).toContain(index);
    }
  });

  it('roll back one step at a time and forward again', async () => {
    const migrator = createMigrator(h.db);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    expect(down.results?.[0]?.direction).toBe('Down');
    const up = await migrateToLatest(h.db);
    expect(up.results?.map((r) => r.migrationName)).toEqual([down.results?.[0]?.migrationName]);
  });
});

describe('seeding', () => {
  it('installs every template once, and keeps a definition an admin edited', async () => {
    const templates = await loadTemplates();
    const first = await seedTemplates(h.db, templates);
    expect(first.created).toHaveLength(16);
    const second = await seedTemplates(h.db, templates);
    expect(second).toMatchObject({ created: [], updated: [], kept: [] });
    expect(second.unchanged).toHaveLength(16);

    const welcome = templates.find((t) => t.key === 'welcome-email')!;
    const row = await findDefinition(h.db, 'welcome-email');
    await updateDefinition(h.db, row!.id, { ...welcome.definition, name: 'Our own welcome' }, 'admin@example.test');
    const changed = templates.map((t) => (t.key === 'welcome-email' ? { ...t, definition: { ...t.definition, description: 'new text' } } : t));
    const third = await seedTemplates(h.db, changed);
    expect(third.kept).toEqual(['welcome-email']);
    expect((await findDefinition(h.db, 'welcome-email'))?.name).toBe('Our own welcome');
  });
});

/** Mirror rows of runs about to start, as the gateway inserts them (PENDING, no run id). */
async function markDefinition() {
  const parsed = parseDefinition({ key: `mark-${randomUUID().slice(0, 8)}`, name: 'Mark', steps: [{ id: 'x', type: 'set', values: { a: 1 } }] });
  if (!parsed.ok) throw new Error('test definition is invalid');
  return createDefinition(h.db, parsed.definition);
}

async function pendingRows(count: number): Promise<string[]> {
  const definition = await markDefinition();
  const ids = Array.from({ length: count }, () => randomUUID());
  await insertExecutions(
    h.db,
    ids.map((id) => mirrorRow(definition, 1, id, `${definition.key}-${id}`, 'manual', {})),
  );
  return ids;
}

/** `current_setting('synchronous_commit')` inside a transaction after `write`, and on the same connection after it. */
async function commitSettingOf(write: (db: typeof h.db) => Promise<unknown>): Promise<{ during: string | undefined; after: string | undefined }> {
  // One connection, so the check after the write reads the setting of the connection the write used.
  const single = createDb({ url: h.databaseUrl, poolMax: 1 });
  const setting = async (db: typeof h.db) => (await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(db)).rows[0]?.s;
  try {
    const during = await single.transaction().execute(async (trx) => {
      await write(trx);
      return setting(trx);
    });
    return { during, after: await setting(single) };
  } finally {
    await single.destroy();
  }
}

describe('inserting the rows of runs about to start', () => {
  it('can commit without waiting for the disk, the rows readable at once', async () => {
    const definition = await markDefinition();
    const ids = [randomUUID(), randomUUID()];
    const rows = ids.map((id) => mirrorRow(definition, 1, id, `${definition.key}-${id}`, 'webhook', { order: id }));
    expect(await commitSettingOf((db) => insertExecutions(db, rows, { durable: false }))).toEqual({ during: 'off', after: 'on' });
    for (const id of ids) {
      expect(await findExecution(h.db, id)).toMatchObject({ status: 'PENDING', trigger_type: 'webhook', trigger_data: { order: id } });
    }
  });

  it('waits for the disk unless told otherwise', async () => {
    const definition = await markDefinition();
    const id = randomUUID();
    const row = mirrorRow(definition, 1, id, `${definition.key}-${id}`, 'manual', {});
    expect(await commitSettingOf((db) => insertExecutions(db, [row]))).toEqual({ during: 'on', after: 'on' });
  });

  it('is one statement for any number of rows, prepared once per connection, as are the marks', async () => {
    const definition = await markDefinition();
    const ids = Array.from({ length: 4 }, () => randomUUID());
    const rows = ids.map((id) => mirrorRow(definition, 1, id, `${definition.key}-${id}`, 'manual', { n: id }));
    const replayed = { ...mirrorRow(definition, 1, randomUUID(), `${definition.key}-replay`, 'manual', {}), replay_of: ids[0]! };
    // One connection, so the prepared statements listed are those the writes made.
    const single = createDb({ url: h.databaseUrl, poolMax: 1 });
    try {
      await insertExecutions(single, rows.slice(0, 1), { durable: false });
      await insertExecutions(single, rows.slice(1), { durable: false });
      await insertExecutions(single, [replayed]);
      await markExecutionsStarted(single, [{ id: ids[0]!, runId: 'run-0' }], { durable: false });
      await markExecutionsStarted(single, ids.slice(1).map((id, i) => ({ id, runId: `run-${i + 1}` })), { durable: false });
      const prepared = await sql<{ name: string; runs: number }>`
        select name, generic_plans + custom_plans as runs from pg_prepared_statements order by name`.execute(single);
      expect(prepared.rows).toEqual([
        { name: 'insert_pending_executions', runs: 1 },
        { name: 'insert_pending_executions_not_durable', runs: 2 },
        { name: 'mark_executions_started_not_durable', runs: 2 },
      ]);
    } finally {
      await single.destroy();
    }
    for (const [i, id] of ids.entries()) {
      expect(await findExecution(h.db, id)).toMatchObject({ status: 'RUNNING', run_id: `run-${i}`, trigger_data: { n: id }, replay_of: null });
    }
    expect(await findExecution(h.db, replayed.id)).toMatchObject({ status: 'PENDING', run_id: null, replay_of: ids[0] });
  });
});

describe('marking rows started', () => {
  it('marks rows RUNNING with their run ids, the commit alone not waiting for the disk', async () => {
    const ids = await pendingRows(3);
    const marked = await commitSettingOf((db) => markExecutionsStarted(db, ids.map((id, i) => ({ id, runId: `run-${i}` })), { durable: false }));
    expect(marked).toEqual({ during: 'off', after: 'on' });
    for (const [i, id] of ids.entries()) {
      expect(await findExecution(h.db, id)).toMatchObject({ status: 'RUNNING', run_id: `run-${i}` });
    }
  });

  it('keeps a run id the run wrote and a status it settled', async () => {
    const [continued, finished] = await pendingRows(2);
    // The run wrote first: a later run's id after continue-as-new, and a final status.
    await h.db.updateTable('workflow_executions').set({ run_id: 'later-run', status: 'RUNNING' }).where('id', '=', continued!).execute();
    await h.db.updateTable('workflow_executions').set({ run_id: 'first-run', status: 'SUCCESS' }).where('id', '=', finished!).execute();
    await markExecutionsStarted(h.db, [
      { id: continued!, runId: 'first-run' },
      { id: finished!, runId: 'first-run' },
    ]);
    expect(await findExecution(h.db, continued!)).toMatchObject({ status: 'RUNNING', run_id: 'later-run' });
    expect(await findExecution(h.db, finished!)).toMatchObject({ status: 'SUCCESS', run_id: 'first-run' });
  });
});

describe("the workflow's mirror writes", () => {
  const event = (stepId: string, kind: StepLogEvent['event'], output?: unknown): StepLogEvent => ({
    stepPath: stepId,
    stepId,
    stepType: 'set',
    event: kind,
    at: new Date().toISOString(),
    attempt: 1,
    ...(output === undefined ? {} : { output }),
  });

  it('write events, decisions and status together, and a retried batch writes nothing twice', async () => {
    const [id] = await pendingRows(1);
    const update = {
      executionId: id!,
      events: [event('a', 'STARTED'), event('a', 'COMPLETED', { n: 1 })],
      decisions: [{ stepPath: 'a', sequence: 1, decidedBy: 'ada', decision: 'approve' as const, automatic: false, at: new Date().toISOString() }],
      status: 'RUNNING' as const,
      currentStep: 'a',
      runId: 'run-1',
    };
    await applyMirrorUpdate(h.db, update);
    await applyMirrorUpdate(h.db, update);
    expect(await findExecution(h.db, id!)).toMatchObject({ status: 'RUNNING', current_step: 'a', run_id: 'run-1' });
    const logs = await listExecutionLogs(h.db, id!);
    expect(logs.map((l) => [l.step_id, l.event, l.output])).toEqual([
      ['a', 'STARTED', null],
      ['a', 'COMPLETED', { n: 1 }],
    ]);
    const decisions = await h.db.selectFrom('approval_decisions').selectAll().where('execution_id', '=', id!).execute();
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ decided_by: 'ada', decision: 'approve' });
  });

  it('write events alone, and settle a run once: a later write does not move it back', async () => {
    const [id] = await pendingRows(1);
    await applyMirrorUpdate(h.db, { executionId: id!, events: [event('a', 'STARTED')] });
    expect(await listExecutionLogs(h.db, id!)).toHaveLength(1);
    expect(await findExecution(h.db, id!)).toMatchObject({ status: 'PENDING' });

    const finishedAt = new Date(Date.now() + 1_000);
    await applyMirrorUpdate(h.db, { executionId: id!, events: [event('a', 'COMPLETED')], status: 'SUCCESS', finishedAt: finishedAt.toISOString() });
    const settled = await findExecution(h.db, id!);
    expect(settled).toMatchObject({ status: 'SUCCESS', current_step: null, error: null });
    expect(settled?.finished_at?.getTime()).toBe(finishedAt.getTime());
    expect(settled?.duration_ms).toBeGreaterThanOrEqual(1_000);

    await applyMirrorUpdate(h.db, { executionId: id!, events: [], status: 'RUNNING', currentStep: 'b' });
    expect(await findExecution(h.db, id!)).toMatchObject({ status: 'SUCCESS', current_step: null });
  });

  describe("with the run's row", () => {
    async function seedFor(triggerData: Record<string, unknown>) {
      const definition = await markDefinition();
      await h.db.updateTable('workflow_definitions').set({ template_key: 'order-shipped' }).where('id', '=', definition.id).execute();
      const id = randomUUID();
      const startedAt = new Date(Date.now() - 5_000);
      const row = {
        workflowId: `${definition.key}-${id}`,
        definitionId: definition.id,
        definitionVersion: 1,
        triggerType: 'webhook' as const,
        triggerData,
        startedAt: startedAt.toISOString(),
      };
      return { id, definition, row, startedAt };
    }

    it("make a row the database lost, with the batch's status, events and decisions", async () => {
      const { id, definition, row, startedAt } = await seedFor({ order: 42, to: 'ada@example.test' });
      await applyMirrorUpdate(h.db, {
        executionId: id,
        events: [event('a', 'STARTED')],
        decisions: [{ stepPath: 'a', sequence: 1, decidedBy: 'ada', decision: 'approve', automatic: false, at: new Date().toISOString() }],
        status: 'RUNNING',
        currentStep: 'a',
        runId: 'run-1',
        row,
      });
      expect(await findExecution(h.db, id)).toMatchObject({
        definition_id: definition.id,
        definition_version: 1,
        workflow_id: row.workflowId,
        run_id: 'run-1',
        status: 'RUNNING',
        trigger_type: 'webhook',
        trigger_data: { order: 42, to: 'ada@example.test' },
        template_key: 'order-shipped',
        category: definition.category,
        current_step: 'a',
        started_at: startedAt,
        finished_at: null,
      });
      expect((await listExecutionLogs(h.db, id)).map((l) => [l.step_id, l.event])).toEqual([['a', 'STARTED']]);
      expect(await h.db.selectFrom('approval_decisions').select('decided_by').where('execution_id', '=', id).execute()).toEqual([{ decided_by: 'ada' }]);
    });

    it("make a settled row when the lost run's first write is its last", async () => {
      const { id, row, startedAt } = await seedFor({});
      const finishedAt = new Date(startedAt.getTime() + 2_500);
      await applyMirrorUpdate(h.db, { executionId: id, events: [event('a', 'FAILED')], status: 'FAILED', error: 'step a failed', finishedAt: finishedAt.toISOString(), row });
      expect(await findExecution(h.db, id)).toMatchObject({ status: 'FAILED', error: 'step a failed', current_step: null, finished_at: finishedAt, duration_ms: 2_500 });
    });

    it('leave a row that is there to the update', async () => {
      const [id] = await pendingRows(1);
      const before = await findExecution(h.db, id!);
      const { row } = await seedFor({ other: true });
      await applyMirrorUpdate(h.db, { executionId: id!, events: [event('a', 'STARTED')], status: 'RUNNING', currentStep: 'a', runId: 'run-1', row });
      const after = await findExecution(h.db, id!);
      expect(after).toMatchObject({ status: 'RUNNING', current_step: 'a', run_id: 'run-1', trigger_data: {}, workflow_id: before?.workflow_id, started_at: before?.started_at });
      expect(await listExecutionLogs(h.db, id!)).toHaveLength(1);
    });
  });

  it('write all of a batch or none of it', async () => {
    const [id] = await pendingRows(1);
    // The second event breaks a constraint (no step type): the first, and the status, must not land either.
    const broken = { ...event('b', 'STARTED'), stepType: null as unknown as string };
    await expect(applyMirrorUpdate(h.db, { executionId: id!, events: [event('a', 'STARTED'), broken], status: 'RUNNING', currentStep: 'a' })).rejects.toThrow(
      /step_type/,
    );
    expect(await listExecutionLogs(h.db, id!)).toEqual([]);
    expect(await findExecution(h.db, id!)).toMatchObject({ status: 'PENDING', current_step: null });
  });
});

describe('the pool', () => {
  it('lets a statement wait for a busy connection longer than a connection may take to make', async () => {
    const lines: string[] = [];
    const logger = { warn: (_: object, message: string) => lines.push(message), info: (_: object, message: string) => lines.push(message) };
    const single = createDb({ url: h.databaseUrl, poolMax: 1, connectTimeoutMs: 200, logger });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    try {
      let holding!: () => void;
      const taken = new Promise<void>((resolve) => (holding = resolve));
      const holder = single.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        holding();
        await held;
      });
      await taken;
      let settled = false;
      const waiting = sql<{ n: number }>`select 2 as n`.execute(single).finally(() => (settled = true));
      // A connection timeout seen to pass, begun after the statement queued: a pool that counted its wait
      // as connecting would have failed the statement first.
      expect(isDatabaseUnavailable(await connectionTimedOut(200))).toBe(true);
      expect(settled).toBe(false);
      release();
      await holder;
      expect((await waiting).rows).toEqual([{ n: 2 }]);
      expect(lines).toEqual([]);
    } finally {
      release();
      await single.destroy();
    }
  });

  it('tells a Postgres that accepts no connection as unreachable within the connection timeout', async () => {
    const lines: string[] = [];
    const logger = { warn: (_: object, message: string) => lines.push(message), info: (_: object, message: string) => lines.push(message) };
    expect(isDatabaseUnavailable(await connectionTimedOut(200, logger))).toBe(true);
    expect(lines).toEqual([expect.stringMatching(/^Postgres is unreachable/)]);
  });
});

/** The error of a statement on a Postgres that accepts the connection and then never answers (the kernel's accept, nothing more). */
async function connectionTimedOut(connectTimeoutMs: number, logger?: OutageLogger): Promise<unknown> {
  const silent = await silentListener();
  const dead = createDb({ url: `postgres://nobody@127.0.0.1:${silent.port}/nothing`, poolMax: 1, connectTimeoutMs, logger });
  try {
    return await sql`select 1`.execute(dead).then(
      () => undefined,
      (err: unknown) => err,
    );
  } finally {
    await dead.destroy();
    silent.close();
  }
}
