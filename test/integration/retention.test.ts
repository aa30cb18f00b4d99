/**
 * Retention on generated data (`npm run clean-logs`, db/retention.ts): a dry
 * run counts what would go and deletes nothing; the real run deletes finished
 * runs past the cutoff with their logs, decisions, ledger and outbox rows, in
 * small batches, while inserts by live runs keep flowing; an open run's rows
 * stay, however old. The same job runs on a Temporal Schedule.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDefinition } from '../../db/definitions';
import { cleanRetention } from '../../db/retention';
import type { DefinitionRow } from '../../db/schema';
import { mirrorRow } from '../../src/executions/start';
import { RETENTION_SCHEDULE_ID } from '../../src/temporal/retention-schedule';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productCommand, productProcesses } from '../support/processes';

let h: Harness;
let definition: DefinitionRow;
const processes = productProcesses();
const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY);

beforeAll(async () => {
  h = await createHarness({ worker: false });
  const created = await h.api('POST', '/api/workflows', { key: 'retained', name: 'Retained', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
  expect(created.status).toBe(201);
  definition = (await findDefinition(h.db, 'retained'))!;
});

afterAll(async () => {
  await processes.killAll();
  await h?.close();
});

/** One run with three step-log rows, an approval decision, two ledger rows (one of a foreach chunk) and an outbox row. */
async function run(status: string, startedDaysAgo: number, finishedDaysAgo: number | null): Promise<string> {
  const id = randomUUID();
  const workflowId = `retained-${id}`;
  await h.db
    .insertInto('workflow_executions')
    .values({
      ...mirrorRow(definition, 1, id, workflowId, 'manual', { n: 1 }),
      status,
      run_id: randomUUID(),
      started_at: daysAgo(startedDaysAgo),
      finished_at: finishedDaysAgo === null ? null : daysAgo(finishedDaysAgo),
    })
    .execute();
  await h.db
    .insertInto('workflow_execution_logs')
    .values(['STARTED', 'COMPLETED', 'FAILED'].map((event) => ({ execution_id: id, step_path: 'only', step_id: 'only', step_type: 'set', event, attempt: 1, timestamp: daysAgo(startedDaysAgo) })))
    .execute();
  await h.db
    .insertInto('approval_decisions')
    .values({ execution_id: id, step_path: 'review', sequence: 1, decided_by: 'ada', decision: 'approve', decided_at: daysAgo(startedDaysAgo) })
    .execute();
  await h.db
    .insertInto('deliveries')
    .values([
      { delivery_key: `${workflowId}/mail`, channel: 'email', status: 'SENT', workflow_id: workflowId, step_path: 'mail' },
      { delivery_key: `${workflowId}:each:0/each[0].mail`, channel: 'email', status: 'SENT', workflow_id: `${workflowId}:each:0`, step_path: 'each[0].mail' },
    ])
    .execute();
  await h.db
    .insertInto('dev_outbox')
    .values({ delivery_key: `${workflowId}/sms`, channel: 'sms', workflow_id: workflowId, step_path: 'sms', message: JSON.stringify({ body: 'hi' }) })
    .execute();
  return id;
}

async function count(table: 'workflow_executions' | 'workflow_execution_logs' | 'approval_decisions' | 'deliveries' | 'dev_outbox' | 'audit_log'): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(h.db);
  return rows[0]!.n;
}

async function counts() {
  return {
    executions: await count('workflow_executions'),
    logs: await count('workflow_execution_logs'),
    decisions: await count('approval_decisions'),
    deliveries: await count('deliveries'),
    outbox: await count('dev_outbox'),
    audit: await count('audit_log'),
  };
}

/** `npm run clean-logs` with `args`, on the harness's database and Temporal. */
const cli = (...args: string[]) =>
  spawnSync(process.execPath, productCommand('src/cli/clean-logs.ts', ...args), {
    env: harnessEnvironment(h, { RETENTION_DAYS: '90' }),
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('retention', () => {
  it('deletes finished runs past the cutoff with what they left, in batches, keeping open and recent runs, while inserts go on', async () => {
    const old: string[] = [];
    for (let i = 0; i < 40; i++) old.push(await run(i % 2 ? 'SUCCESS' : 'FAILED', 120, 100));
    // Open for 200 days, a run waiting on an approval: none of its rows goes.
    const open = await Promise.all(Array.from({ length: 5 }, () => run('RUNNING', 200, null)));
    const recent = await Promise.all(Array.from({ length: 10 }, () => run('SUCCESS', 11, 10)));
    for (const at of [daysAgo(400), daysAgo(400), daysAgo(30)]) {
      await h.db.insertInto('audit_log').values({ at, actor: 'ada', action: 'execution.reset', target: randomUUID(), outcome: JSON.stringify({}) }).execute();
    }
    const before = await counts();
    expect(before).toEqual({ executions: 55, logs: 165, decisions: 55, deliveries: 110, outbox: 55, audit: 3 });

    // The dry run counts and changes nothing.
    const lines: string[] = [];
    const planned = await cleanRetention(h.db, { days: 90, dryRun: true, say: (l) => lines.push(l) });
    expect(planned).toMatchObject({ deliveries: 80, dev_outbox: 40, workflow_executions: 40, audit_log: 2, recovery_batches: 0 });
    expect(lines).toContain('workflow_executions: 40 rows would be deleted');
    expect(await counts()).toEqual(before);

    // Live runs keep writing while it deletes, in batches of 7.
    let cleaning = true;
    let inserted = 0;
    const load = (async () => {
      while (cleaning) {
        await run('RUNNING', 0, null);
        inserted += 1;
      }
    })();
    const progress: string[] = [];
    const done = await cleanRetention(h.db, { days: 90, batchSize: 7, say: (l) => progress.push(l) });
    cleaning = false;
    await load;
    expect(done).toEqual(planned);
    expect(inserted).toBeGreaterThan(0);
    // Counted as it went, batch by batch.
    expect(progress.filter((l) => l.startsWith('workflow_executions:') && l.includes('so far')).map((l) => Number(/: (\d+)/.exec(l)![1]))).toEqual([
      7, 14, 21, 28, 35, 40,
    ]);

    const after = await counts();
    expect(after).toEqual({
      executions: 15 + inserted,
      logs: 3 * (15 + inserted),
      decisions: 15 + inserted,
      deliveries: 2 * (15 + inserted),
      outbox: 15 + inserted,
      audit: 1,
    });
    const kept = await h.db.selectFrom('workflow_executions').select('id').where('id', 'in', [...open, ...recent, ...old]).execute();
    expect(kept.map((r) => r.id).sort()).toEqual([...open, ...recent].sort());

    // Nothing left past the cutoff: a second pass deletes nothing.
    expect(Object.values(await cleanRetention(h.db, { days: 90 })).every((n) => n === 0)).toBe(true);
  });

  it('runs as npm run clean-logs, with a dry run, and refuses a bad option', () => {
    const dry = cli('--dry-run');
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('keeping finished runs 90 days, audit entries 365 days (dry run: nothing is deleted)');
    expect(dry.stdout).toMatch(/workflow_executions: \d+ rows would be deleted/);
    expect(dry.stdout).toMatch(/would delete \d+ rows/);
    const bad = cli('--days', 'zero');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--days takes a whole number of 1 or more, not zero');
  });

  it('runs on a Temporal Schedule the workers carry out, made and removed by npm run clean-logs', async () => {
    const made = cli('--schedule', '0 3 * * *', '--timezone', 'Europe/Berlin');
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toContain(`schedule ${RETENTION_SCHEDULE_ID} created: '0 3 * * *' (Europe/Berlin)`);
    expect(cli('--schedule', '30 2 * * *').stdout).toContain('updated');
    const handle = h.client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    const described = await handle.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', taskQueue: h.config.temporal.taskQueue });
    expect(described.spec.timezone).toBe('UTC');

    const doomed = await run('SUCCESS', 200, 150);
    await processes.start('src/worker/main.ts', harnessEnvironment(h));
    await handle.trigger();
    await eventually(
      async () => ((await h.db.selectFrom('workflow_executions').select('id').where('id', '=', doomed).executeTakeFirst()) ? undefined : true),
      60_000,
      'the scheduled job to delete the old run',
    );
    const unmade = cli('--unschedule');
    expect(unmade.stdout).toContain(`schedule ${RETENTION_SCHEDULE_ID} deleted`);
    expect(cli('--unschedule').stdout).toContain('no schedule');
  });
});
