/**
 * Reports on real runs (dev server, Postgres, loopback SMTP peers): the
 * rollups counted right, passes that redo only the days that changed, the
 * `/api/reports/*` answers, deliveries per connection, the SQL views
 * analysts query, and bad input.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshReports } from '../../db/reports';
import { type SmtpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
let smtp: SmtpSink;
/** The mail server of the `report-mail` connection. */
let connectionSmtp: SmtpSink;
const today = new Date().toISOString().slice(0, 10);
/**
 * Ten times what an ordinary run of ORDERS takes on a loaded 2-core machine
 * (under a second; a fraction of that on a quiet one). The slow run is held
 * past it by the test itself, so which runs breach never depends on speed.
 */
const SLA_MS = 10_000;

const ORDERS = {
  key: 'report-orders',
  name: 'Orders',
  sla: `${SLA_MS / 1000}s`,
  steps: [
    { id: 'check', type: 'condition', condition: 'input.bad = true', then: [{ id: 'reject', type: 'fail', message: 'order {{ input.id }} is not payable' }] },
    { id: 'slow', type: 'condition', condition: 'input.slow = true', then: [{ id: 'hold', type: 'wait_for_signal', signal: 'release', timeout: '1h' }] },
    { id: 'confirm', type: 'email', to: '{{ input.id }}@example.test', subject: 'Order {{ input.id }}', text: 'Thanks' },
  ],
};

async function run(key: string, triggerData: Record<string, unknown>) {
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { executionId: started.body.executionId as string, handle: h.client.workflow.getHandle(started.body.workflowId) };
}

async function ended(executionId: string) {
  await eventually(async () => {
    const row = await h.db.selectFrom('workflow_executions').select('status').where('id', '=', executionId).executeTakeFirst();
    return row && !['PENDING', 'RUNNING'].includes(row.status) ? true : undefined;
  });
}

beforeAll(async () => {
  smtp = await startSmtpSink();
  connectionSmtp = await startSmtpSink();
  h = await createHarness({
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      CONNECTION_KEYS: `reports:${randomBytes(32).toString('base64')}`,
    },
  });
});

afterAll(async () => {
  await h?.close();
  await smtp?.close();
  await connectionSmtp?.close();
});

describe('reports', () => {
  let waiting: Awaited<ReturnType<typeof run>>;

  it('counts ended runs, failures, SLA breaches, durations, deliveries and open runs', async () => {
    expect((await h.api('POST', '/api/workflows', ORDERS)).status).toBe(201);
    const approvalDef = {
      key: 'report-approvals',
      name: 'Approvals',
      steps: [{ id: 'signoff', type: 'approval', approvers: ['test harness'], timeout: '1h', onTimeout: 'reject' }],
    };
    expect((await h.api('POST', '/api/workflows', approvalDef)).status).toBe(201);

    const slow = await run('report-orders', { id: 's1', slow: true });
    // Its start was accepted by now, so its duration counts from no later than here.
    const slowStarted = Date.now();
    const runs = await Promise.all([
      run('report-orders', { id: 'a1' }),
      run('report-orders', { id: 'a2' }),
      run('report-orders', { id: 'a3' }),
      run('report-orders', { id: 'b1', bad: true }),
      run('report-orders', { id: 'b2', bad: true }),
    ]);
    for (const r of runs) await ended(r.executionId);
    // Held until it has certainly run longer than the SLA: a duration the test controls.
    await new Promise((r) => setTimeout(r, Math.max(0, slowStarted + SLA_MS + 1_000 - Date.now())));
    await eventually(async () => ((await h.api('POST', `/api/executions/${slow.executionId}/signal`, { signal: 'release' })).status === 200 ? true : undefined));
    await ended(slow.executionId);
    waiting = await run('report-approvals', {});
    await eventually(async () => ((await h.db.selectFrom('workflow_executions').select('current_step').where('id', '=', waiting.executionId).executeTakeFirst())?.current_step === 'signoff' ? true : undefined));

    const before = await h.api('GET', '/api/reports/summary');
    expect(before.status).toBe(200);
    // Nothing rolled up yet: open runs are live, the rest waits for the first pass.
    expect(before.body).toMatchObject({ asOf: null, runs: 0, open: 1 });

    const pass = await refreshReports(h.db);
    expect(pass.days).toEqual({ runs: 1, steps: 1, deliveries: 1 });

    const summary = await h.api('GET', '/api/reports/summary?definition=report-orders');
    expect(summary.status, JSON.stringify(summary.body)).toBe(200);
    expect(summary.body).toMatchObject({
      from: new Date(Date.parse(today) - 29 * 86_400_000).toISOString().slice(0, 10),
      to: today,
      definition: 'report-orders',
      asOf: expect.any(String),
      runs: 6,
      succeeded: 4,
      failed: 2,
      successRate: 0.6667,
      slaBreached: 1,
      open: 0,
      failingDefinitions: [{ definitionKey: 'report-orders', runs: 6, failed: 2, successRate: 0.6667 }],
      deliveries: [],
    });
    // The slow run took longer than the SLA (held 1 s past it; a bucket's middle is within 5 % of its runs); the others far less.
    expect(summary.body.durationMs.p99).toBeGreaterThan(SLA_MS);
    expect(summary.body.durationMs.p50).toBeLessThan(summary.body.durationMs.p99);

    const all = await h.api('GET', '/api/reports/summary');
    expect(all.body).toMatchObject({ runs: 6, open: 1, deliveries: [{ channel: 'email', status: 'SENT', deliveries: 4 }] });

    const daily = await h.api('GET', `/api/reports/daily?from=${today}&to=${today}`);
    expect(daily.body.items).toEqual([
      expect.objectContaining({ day: today, definitionKey: 'report-orders', definitionVersion: 1, runs: 6, succeeded: 4, failed: 2, slaBreached: 1 }),
    ]);

    const steps = await h.api('GET', '/api/reports/steps?definition=report-orders');
    const byId = (id: string) => steps.body.items.find((s: { stepId: string }) => s.stepId === id);
    // The failing step, and the condition around it, which fails with it.
    expect(byId('check')).toMatchObject({ stepType: 'condition', started: 6, failed: 2, failureRate: 0.3333 });
    expect(byId('reject')).toMatchObject({
      stepId: 'reject',
      stepType: 'fail',
      started: 2,
      failed: 2,
      failureRate: 1,
      topErrors: [{ failures: 2, sample: expect.stringMatching(/order b\d is not payable/) }],
    });
    expect(byId('confirm')).toMatchObject({ started: 4, completed: 4, failed: 0, failureRate: 0 });

    const deliveries = await h.api('GET', '/api/reports/deliveries');
    expect(deliveries.body.items).toEqual([{ day: today, channel: 'email', status: 'SENT', deliveries: 4, attempts: 4 }]);
  });

  it('redoes only the days that changed, and counts a run once it ends', async () => {
    const quiet = await refreshReports(h.db);
    // Runs and deliveries look back a minute past the last pass: today again; no log row is new.
    expect(quiet.days).toEqual({ runs: 1, steps: 0, deliveries: 1 });
    const decided = await h.api('POST', `/api/executions/${waiting.executionId}/approvals`, { step: 'signoff', decision: 'approve' });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    await ended(waiting.executionId);
    await refreshReports(h.db);
    const all = await h.api('GET', '/api/reports/summary');
    expect(all.body).toMatchObject({ runs: 7, succeeded: 5, open: 0 });
    // A day long past is left alone: its rows, put there by hand, stay as they are.
    const definitionId = (await h.db.selectFrom('workflow_definitions').select('id').where('key', '=', 'report-orders').executeTakeFirstOrThrow()).id;
    await sql`insert into report_runs_daily values ('2020-01-01', ${definitionId}, 1, 5, 5, 0, 0, 0, 0, 0, 500)`.execute(h.db);
    await refreshReports(h.db);
    const old = await h.api('GET', '/api/reports/daily?from=2020-01-01&to=2020-01-31&definition=report-orders');
    expect(old.body.items).toEqual([expect.objectContaining({ day: '2020-01-01', runs: 5, meanDurationMs: 100 })]);
  });

  it('keeps the SQL views analysts query', async () => {
    const { rows: daily } = await sql<{ runs: number; success_rate: string }>`
      select runs, success_rate from report_daily_runs where definition_key = 'report-orders' and day = ${today}::date`.execute(h.db);
    expect(daily).toEqual([{ runs: 6, success_rate: '0.6667' }]);
    const { rows: breaches } = await sql<{ definition_key: string; sla_ms: number }>`select definition_key, sla_ms from report_sla_breaches`.execute(h.db);
    expect(breaches).toEqual([{ definition_key: 'report-orders', sla_ms: SLA_MS }]);
    const { rows: approvals } = await sql<{ step_path: string; decisions: number; approved: number }>`
      select step_path, decisions, approved from report_approvals`.execute(h.db);
    expect(approvals).toEqual([{ step_path: 'signoff', decisions: 1, approved: 1 }]);
    const { rows: check } = await sql<{ executions: string; successful: string }>`select executions, successful from report_daily_check`.execute(h.db);
    expect(check.reduce((n, r) => n + Number(r.executions), 0)).toBe(7);
    const { rows: durations } = await sql<{ runs: number; p50_ms: string }>`
      select runs, p50_ms from report_durations where definition_key = 'report-orders'`.execute(h.db);
    expect(durations[0]!.runs).toBe(4);
    const { rows: errors } = await sql<{ step_id: string; failures: number }>`
      select step_id, failures from report_top_errors order by step_id`.execute(h.db);
    expect(errors).toEqual([{ step_id: 'check', failures: 2 }, { step_id: 'reject', failures: 2 }]);
    const { rows: failures } = await sql<{ failure_rate: string }>`
      select failure_rate from report_step_failures where step_id = 'reject'`.execute(h.db);
    expect(failures).toEqual([{ failure_rate: '1.0000' }]);
  });

  it('refuses bad ranges and unknown definitions with a clear problem', async () => {
    const backwards = await h.api('GET', '/api/reports/daily?from=2026-02-01&to=2026-01-01');
    expect(backwards.status).toBe(400);
    expect(backwards.body.detail).toMatch(/"from" is after "to"/);
    const wide = await h.api('GET', '/api/reports/daily?from=2020-01-01&to=2026-01-01');
    expect(wide.body.detail).toMatch(/at most 400 days/);
    const word = await h.api('GET', '/api/reports/summary?from=yesterday');
    expect(word.status).toBe(400);
    expect(JSON.stringify(word.body)).toMatch(/must be a date \(YYYY-MM-DD\) or an ISO 8601 time/);
    const unknown = await h.api('GET', '/api/reports/steps?definition=nope');
    expect(unknown.status).toBe(404);
    const extra = await h.api('GET', '/api/reports/deliveries?definition=report-orders');
    expect(extra.status).toBe(400);
  });
});

describe('the success rate', () => {
  it('leaves cancelled and terminated runs out, counting them beside it, on rollup rows old and new', async () => {
    const stops = {
      key: 'report-stops',
      name: 'Stops',
      steps: [{ id: 'hold', type: 'wait_for_signal', signal: 'release', timeout: '1h' }],
    };
    expect((await h.api('POST', '/api/workflows', stops)).status).toBe(201);
    const [released, cancelled, terminated] = await Promise.all([run('report-stops', {}), run('report-stops', {}), run('report-stops', {})]);
    const waiting = async (executionId: string) =>
      eventually(async () => ((await h.db.selectFrom('workflow_executions').select('current_step').where('id', '=', executionId).executeTakeFirst())?.current_step === 'hold' ? true : undefined));
    for (const r of [released!, cancelled!, terminated!]) await waiting(r.executionId);
    expect((await h.api('POST', `/api/executions/${released!.executionId}/signal`, { signal: 'release' })).status).toBe(200);
    expect((await h.api('POST', `/api/executions/${cancelled!.executionId}/cancel`)).status).toBe(202);
    expect((await h.api('POST', `/api/executions/${terminated!.executionId}/terminate`, { reason: 'report test' })).status).toBe(200);
    for (const r of [released!, cancelled!, terminated!]) await ended(r.executionId);
    await refreshReports(h.db);

    const summary = await h.api('GET', '/api/reports/summary?definition=report-stops');
    expect(summary.body).toMatchObject({ runs: 3, succeeded: 1, failed: 0, cancelled: 1, terminated: 1, successRate: 1 });
    const daily = await h.api('GET', `/api/reports/daily?from=${today}&to=${today}&definition=report-stops`);
    expect(daily.body.items).toEqual([expect.objectContaining({ runs: 3, cancelled: 1, terminated: 1, successRate: 1 })]);

    // A day rolled up before the rate was defined so: the rollup holds counts only, so the rate follows.
    const definitionId = (await h.db.selectFrom('workflow_definitions').select('id').where('key', '=', 'report-stops').executeTakeFirstOrThrow()).id;
    // day, definition, version, runs, succeeded, failed, cancelled, timed out, terminated, SLA breached, duration sum
    await sql`insert into report_runs_daily values ('2020-02-01', ${definitionId}, 1, 6, 1, 1, 3, 0, 1, 0, 600)`.execute(h.db);
    const old = await h.api('GET', '/api/reports/daily?from=2020-02-01&to=2020-02-01&definition=report-stops');
    expect(old.body.items).toEqual([expect.objectContaining({ runs: 6, succeeded: 1, failed: 1, cancelled: 3, terminated: 1, successRate: 0.5 })]);
    const { rows: view } = await sql<{ day: string; success_rate: string }>`
      select day::text, success_rate from report_daily_runs where definition_key = 'report-stops' order by day`.execute(h.db);
    expect(view).toEqual([
      { day: '2020-02-01', success_rate: '0.5000' },
      { day: today, success_rate: '1.0000' },
    ]);
  });
});

describe('deliveries by connection', () => {
  it('groups and filters deliveries by the connection they went through, the environment as null', async () => {
    const created = await h.api('POST', '/api/connections', {
      name: 'report-mail',
      type: 'smtp',
      settings: { host: '127.0.0.1', port: connectionSmtp.port, from: 'news@example.test' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const definition = {
      key: 'report-newsletter',
      name: 'Newsletter',
      steps: [
        { id: 'through', type: 'email', connection: 'report-mail', to: 'reader@example.test', subject: 'News', text: 'news' },
        { id: 'plain', type: 'email', to: 'reader@example.test', subject: 'Receipt', text: 'receipt' },
      ],
    };
    expect((await h.api('POST', '/api/workflows', definition)).status).toBe(201);
    const { executionId } = await run('report-newsletter', {});
    await ended(executionId);
    expect(connectionSmtp.messages).toHaveLength(1);
    await refreshReports(h.db);

    const byChannel = (await h.api('GET', '/api/reports/deliveries')).body.items as { channel: string; status: string; deliveries: number }[];
    const sent = byChannel.find((r) => r.channel === 'email' && r.status === 'SENT')!;
    expect(Object.keys(sent)).not.toContain('connection');

    const byConnection = await h.api('GET', '/api/reports/deliveries?by=connection');
    expect(byConnection.status).toBe(200);
    expect(byConnection.body.items).toEqual([
      { day: today, channel: 'email', connection: null, status: 'SENT', deliveries: sent.deliveries - 1, attempts: expect.any(Number) },
      { day: today, channel: 'email', connection: 'report-mail', status: 'SENT', deliveries: 1, attempts: 1 },
    ]);
    const one = await h.api('GET', '/api/reports/deliveries?connection=report-mail');
    expect(one.body.items).toEqual([{ day: today, channel: 'email', connection: 'report-mail', status: 'SENT', deliveries: 1, attempts: 1 }]);
    expect((await h.api('GET', '/api/reports/deliveries?connection=no-such-mail')).body.items).toEqual([]);

    const { rows: view } = await sql<{ connection: string | null; deliveries: number }>`
      select connection, sum(deliveries)::int as deliveries from report_deliveries where day = ${today}::date and status = 'SENT'
      group by connection order by connection nulls first`.execute(h.db);
    expect(view).toEqual([
      { connection: null, deliveries: sent.deliveries - 1 },
      { connection: 'report-mail', deliveries: 1 },
    ]);

    const badGroup = await h.api('GET', '/api/reports/deliveries?by=definition');
    expect(badGroup.status).toBe(400);
    expect(badGroup.body.errors).toEqual([expect.objectContaining({ path: '$.query.by', message: 'must be channel or connection' })]);
    const badName = await h.api('GET', '/api/reports/deliveries?connection=Not%20A%20Name');
    expect(badName.body.errors).toEqual([expect.objectContaining({ path: '$.query.connection' })]);
  });
});
