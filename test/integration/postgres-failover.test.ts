/**
 * The product's own Postgres failing over while runs are in flight: no run
 * fails, no message goes twice, no process dies. Two worker processes and the
 * gateway run against a Postgres of this file's own, which goes away three
 * times while 50 runs send 150 paced mails: `pg_ctl stop -m fast` for 20 s,
 * `-m immediate` for 20 s at the moment the SMTP server is taking a message
 * (so that message is accepted while the ledger cannot record it), and a
 * SIGKILL of the postmaster.
 */
import type { ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink, type SmtpSink } from '../../scripts/lib/sinks';
import { ERROR_TYPES } from '../../src/shared/run';
import { type ControlledPostgres, startControlledPostgres } from '../../scripts/lib/controlled-postgres';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productProcesses } from '../support/processes';

const RUNS = 50;
const MAILS_PER_RUN = 3;
/** Slow enough that the runs are still sending through all three outages. */
const MAILS_PER_MINUTE = 240;
/** How long each stop lasts: longer than a step's whole retry budget (5 attempts, about 15 s). */
const OUTAGE_MS = 20_000;

let postgres: ControlledPostgres;
let h: Harness;
let smtp: SmtpSink;
const processes = productProcesses();
const workers: ChildProcess[] = [];

const smtpEnv = () => ({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'automation@example.test' });

beforeAll(async () => {
  [postgres, smtp] = await Promise.all([startControlledPostgres(), startSmtpSink()]);
  h = await createHarness({ worker: false, postgresUrl: postgres.url, env: smtpEnv() });
  const workerEnv = harnessEnvironment(h, { ...smtpEnv(), PACING_EMAIL_PER_MINUTE: String(MAILS_PER_MINUTE) });
  workers.push(...(await Promise.all([processes.start('src/worker/main.ts', workerEnv), processes.start('src/worker/main.ts', workerEnv)])));
}, 180_000);

afterAll(async () => {
  await processes.killAll();
  // A test that failed mid-outage leaves Postgres stopped: the harness needs it to clean up.
  await postgres?.start().catch(() => undefined);
  await h?.close();
  await smtp?.close();
  await postgres?.destroy();
});

/** Holds Postgres down for `ms`, a duration of the scenario, then starts it again. */
async function outage(stop: () => Promise<void>, ms: number): Promise<void> {
  await stop();
  await new Promise((resolve) => setTimeout(resolve, ms));
  await postgres.start();
}

const received = () => smtp.messages.length;
const waitForMails = async (count: number) => {
  try {
    await eventually(async () => (received() >= count ? true : undefined), 300_000, `${count} mails at the SMTP server`);
  } catch (err) {
    throw new Error(`${String(err)}; Postgres's log ends:\n${await postgres.logTail()}`);
  }
};

describe('the product Postgres failing over mid-run', () => {
  it('fails no run, sends each mail once, and keeps every worker alive', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'failover-mails',
      name: 'Three mails around a delay',
      steps: [
        { id: 'first', type: 'email', to: '{{ input.user }}+first@example.test', subject: 'first', text: 'hello' },
        { id: 'pause', type: 'delay', duration: '3s' },
        { id: 'second', type: 'email', to: '{{ input.user }}+second@example.test', subject: 'second', text: 'hello' },
        { id: 'third', type: 'email', to: '{{ input.user }}+third@example.test', subject: 'third', text: 'hello' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const pids = workers.map((w) => w.pid);

    const runs = await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const started = await h.api('POST', '/api/workflows/failover-mails/execute', { triggerData: { user: `user${i}` } });
        expect(started.status, JSON.stringify(started.body)).toBe(202);
        return started.body as { executionId: string; workflowId: string; runId: string };
      }),
    );

    // 1. A clean stop: the server ends every connection, then refuses new ones.
    await waitForMails(20);
    await outage(() => postgres.stop('fast'), OUTAGE_MS);

    // 2. A crash while a message is being taken: accepted only once Postgres is gone, so
    //    the attempt that sent it cannot record it as sent.
    const mid = received() + 10;
    let crash: Promise<void> | undefined;
    let crashed = false;
    smtp.onRecipient = () => {
      if (crash || received() < mid) return undefined;
      crash = postgres.stop('immediate').then(() => void (crashed = true));
      return crash;
    };
    await waitForMails(mid);
    await eventually(async () => (crashed ? true : undefined), 120_000, 'the immediate stop');
    smtp.onRecipient = undefined;
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await postgres.start();

    // 3. The postmaster killed outright.
    await waitForMails(received() + 10);
    await outage(() => postgres.kill(), 5_000);

    // Every run ends SUCCESS with no reset: the mirror says so, and so does Temporal.
    await eventually(
      async () => {
        const open = await h.db
          .selectFrom('workflow_executions')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('id', 'in', runs.map((r) => r.executionId))
          .where('status', '!=', 'SUCCESS')
          .executeTakeFirstOrThrow();
        return Number(open.n) === 0 ? true : undefined;
      },
      300_000,
      'every run to end SUCCESS in the mirror',
    );
    for (const run of runs) {
      const description = await h.client.workflow.getHandle(run.workflowId).describe();
      expect(description.status.name, run.workflowId).toBe('COMPLETED');
      expect(description.runId, `${run.workflowId} was reset`).toBe(run.runId);
    }

    // Each of the 150 mails arrived exactly once.
    const counts = new Map<string, number>();
    for (const mail of smtp.messages) for (const to of mail.to) counts.set(to, (counts.get(to) ?? 0) + 1);
    const expected = runs.flatMap((_, i) => ['first', 'second', 'third'].map((step) => `user${i}+${step}@example.test`));
    expect(expected).toHaveLength(RUNS * MAILS_PER_RUN);
    expect(expected.filter((to) => counts.get(to) !== 1)).toEqual([]);
    expect(smtp.messages).toHaveLength(RUNS * MAILS_PER_RUN);

    // The ledger knows every one as sent, the one accepted during the crash included.
    const ledger = await h.db.selectFrom('deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
    expect(ledger.map((r) => [r.status, Number(r.n)])).toEqual([['SENT', RUNS * MAILS_PER_RUN]]);

    // No step-log row twice, and any FAILED row (an attempt, not a run) names a documented type.
    const duplicates = await sql<{ n: number }>`
      select count(*)::int as n from (
        select execution_id, step_path, event, attempt from workflow_execution_logs
        group by 1, 2, 3, 4 having count(*) > 1) d`.execute(h.db);
    expect(duplicates.rows[0]!.n).toBe(0);
    const failedTypes = await h.db.selectFrom('workflow_execution_logs').select('error_type').distinct().where('event', '=', 'FAILED').execute();
    for (const { error_type } of failedTypes) expect(Object.keys(ERROR_TYPES)).toContain(error_type);

    // Both workers lived through it, and each said once per outage that Postgres was away.
    for (const [i, worker] of workers.entries()) {
      expect(worker.exitCode, processes.output()).toBeNull();
      expect(worker.signalCode).toBeNull();
      expect(worker.pid).toBe(pids[i]);
    }
    const warnings = processes.output().match(/Postgres is unreachable/g) ?? [];
    expect(warnings.length).toBeGreaterThan(0);
    const outageLines = processes.output().split('\n').filter((line) => /Postgres is unreachable|Postgres answers again/.test(line));
    expect(warnings.length, outageLines.join('\n')).toBeLessThanOrEqual(3 * workers.length);
  }, 900_000);
});
