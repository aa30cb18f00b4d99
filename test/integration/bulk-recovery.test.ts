/**
 * Bulk recovery after an outage: 200 runs fail at step 3 of 5 because a peer
 * is down; a dry run says what a bulk reset would do and changes nothing; the
 * peer comes back, one bulk reset brings all 200 to SUCCESS without sending
 * steps 1–2 again, while the worker is SIGKILLed mid-batch and a second,
 * overlapping batch races it; the audit log says who did what and why.
 */
import type { ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpSink, type SmtpSink, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { holdDeliveries } from '../support/deliveries';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

const RUNS = 200;
/** The waits of the first test, each from what its runs need (a batch resets two runs at a time). */
const WAITS = {
  failed: runTimeout({ steps: 3, runs: RUNS, parallel: 10 }),
  going: runTimeout({ steps: 3, runs: 20, parallel: 2, extra: '10s' }),
  finished: runTimeout({ steps: 3, runs: RUNS, parallel: 2, extra: '10s' }),
  succeeded: runTimeout({ steps: 3, runs: RUNS, parallel: 10 }),
};

let h: Harness;
let smtp: SmtpSink;
let peers: HttpSink;
let peerDown = true;
/** The CRM's answers per user: how often it refused (the outage) and how often it took the call. */
const crmCalls = new Map<string, { refused: number; taken: number }>();
const processes = productProcesses();

beforeAll(async () => {
  [smtp, peers] = await Promise.all([startSmtpSink(), startHttpSink()]);
  peers.respond = (req) => {
    if (!req.path.startsWith('/crm')) return { status: 200, body: { ok: true } };
    const user = (req.json as { user: string }).user;
    const calls = crmCalls.get(user) ?? { refused: 0, taken: 0 };
    crmCalls.set(user, calls);
    if (peerDown) calls.refused += 1;
    else calls.taken += 1;
    return peerDown ? { status: 503, body: { error: 'down for maintenance' } } : { status: 200, body: { ok: true } };
  };
  h = await createHarness({ worker: false });
});

afterAll(async () => {
  await processes.killAll();
  await h?.close();
  await Promise.all([smtp?.close(), peers?.close()]);
});

function startWorker(): Promise<ChildProcess> {
  return processes.start(
    'src/worker/main.ts',
    harnessEnvironment(h, {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      SLACK_WEBHOOK_URL: `${peers.url}/slack`,
      HTTP_ALLOWED_HOSTS: '127.0.0.1',
    }),
  );
}

const posts = (path: string) => peers.requests.filter((r) => r.path === path).map((r) => (r.json as { text: string }).text);
const mails = (subject: string) => smtp.messages.filter((m) => m.raw.includes(`Subject: ${subject}`)).map((m) => m.to.join(','));

async function statusCounts(definitionId: string): Promise<Record<string, number>> {
  const { rows } = await sql<{ status: string; n: number }>`
    select status, count(*)::int as n from workflow_executions where definition_id = ${definitionId} group by status`.execute(h.db);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe('bulk reset after an outage', () => {
  it('previews, then resets 200 failed runs to SUCCESS once each, through a worker kill and an overlapping batch', async () => {
    let worker = await startWorker();
    const created = await h.api('POST', '/api/workflows', {
      key: 'outage',
      name: 'Order sync',
      steps: [
        { id: 'mail', type: 'email', to: '{{ input.user }}@example.test', subject: 'received', text: 'hello' },
        { id: 'post', type: 'slack', text: 'order from {{ input.user }}' },
        // Retried, briefly: the reset runs' attempts on the worker killed below are tried again on the next.
        { id: 'sync', type: 'http', method: 'POST', url: `${peers.url}/crm`, body: { user: '{{ input.user }}' }, retry: { maximumAttempts: 3, initialInterval: '100ms' } },
        { id: 'done', type: 'email', to: '{{ input.user }}@example.test', subject: 'synced', text: 'bye' },
        { id: 'tell', type: 'slack', text: 'synced {{ input.user }}' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const definitionId = created.body.id as string;
    for (let i = 0; i < RUNS; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const started = await h.api('POST', '/api/workflows/outage/execute', { triggerData: { user: `u${i + j}` } });
          expect(started.status, JSON.stringify(started.body)).toBe(202);
        }),
      );
    }
    await eventually(async () => ((await statusCounts(definitionId)).FAILED === RUNS ? true : undefined), WAITS.failed, 'every run to fail at step 3').catch(
      async (err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify(await statusCounts(definitionId))}; worker: ${processes.output().slice(-3000)}`);
      },
    );
    expect(mails('received')).toHaveLength(RUNS);
    expect(posts('/slack')).toHaveLength(RUNS);

    // The dry run: what matches, grouped, and what would happen to each; nothing changes.
    const filter = { definition: 'outage', failedStep: 'sync' };
    const preview = await h.api('POST', '/api/executions/bulk/reset', { filter, reason: 'CRM back up', dryRun: true, limit: 5 });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body).toMatchObject({ dryRun: true, action: 'reset', matched: RUNS });
    // Grouped by error type: the peer's 503s, and on a loaded machine the odd attempt that timed out.
    const groups = preview.body.groups as { errorType: string; count: number }[];
    for (const group of groups) {
      expect(group).toEqual({ definitionKey: 'outage', definitionVersion: 1, failedStep: 'sync', errorType: expect.stringMatching(/^(ProviderUnavailable|Timeout)$/), count: expect.any(Number) });
    }
    expect(groups.map((g) => g.errorType)).toContain('ProviderUnavailable');
    expect(groups.reduce((sum, g) => sum + g.count, 0)).toBe(RUNS);
    expect(preview.body.runs).toHaveLength(5);
    for (const run of preview.body.runs) {
      expect(run).toMatchObject({ status: 'FAILED', failedStep: 'sync', action: expect.stringMatching(/^reset to the failed step sync/) });
      expect(run.refused).toBeUndefined();
      expect(run.delivered.map((d: { stepPath: string; channel: string }) => `${d.stepPath}:${d.channel}`)).toEqual(['mail:email', 'post:slack']);
    }
    // Filters narrow it: by error type to that group's runs; another error type matches nothing.
    const unavailable = await h.api('POST', '/api/executions/bulk/reset', { filter: { ...filter, errorType: 'ProviderUnavailable' }, reason: 'x', dryRun: true });
    expect(unavailable.body.matched).toBe(groups.find((g) => g.errorType === 'ProviderUnavailable')?.count);
    const none = await h.api('POST', '/api/executions/bulk/reset', { filter: { ...filter, errorType: 'NoSuchType' }, reason: 'x', dryRun: true });
    expect(none.body.matched).toBe(0);
    expect((await h.api('POST', '/api/executions/bulk/reset', { filter: { ...filter, errorType: 'NoSuchType' }, reason: 'x' })).status).toBe(422);
    expect((await h.api('POST', '/api/executions/bulk/reset', { filter: {}, reason: 'x', dryRun: true })).status).toBe(400);
    expect(await statusCounts(definitionId)).toEqual({ FAILED: RUNS });
    expect((await h.api('GET', '/api/batches')).body.items).toEqual([]);
    expect((await h.api('GET', '/api/audit')).body.items).toEqual([]);

    // The peer is back. One batch, two at a time; the worker dies with the batch under way.
    peerDown = false;
    const first = await h.api('POST', '/api/executions/bulk/reset', { filter, reason: 'CRM back up', concurrency: 2 });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ total: RUNS, status: 'RUNNING' });
    const batchA = first.body.batchId as string;
    await eventually(async () => ((await h.api('GET', `/api/batches/${batchA}`)).body.done >= 20 ? true : undefined), WAITS.going, 'the batch to get going');
    // The ledger's one blind spot is held shut while it dies (test/support/deliveries.ts).
    const release = await holdDeliveries(h.db, smtp, [peers], (req) => req.path === '/slack');
    await processes.kill(worker);
    release();

    // While no worker runs, a second batch takes the same runs: between them, each run is reset once.
    const second = await h.api('POST', '/api/executions/bulk/reset', { filter, reason: 'CRM back up (again)', concurrency: 4 });
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    const batchB = second.body.batchId as string;
    expect(second.body.total).toBeLessThan(RUNS);
    worker = await startWorker();

    const finished = async (id: string) =>
      eventually(
        async () => {
          const batch = (await h.api('GET', `/api/batches/${id}`)).body;
          return batch.status === 'COMPLETED' ? batch : undefined;
        },
        WAITS.finished,
        `batch ${id} to complete`,
      );
    const [a, b] = await Promise.all([finished(batchA), finished(batchB)]);
    expect(a).toMatchObject({ total: RUNS, pending: 0, working: 0, failed: 0 });
    expect(b).toMatchObject({ pending: 0, working: 0, failed: 0 });
    expect(a.done + b.done).toBe(RUNS);
    expect(a.skipped + b.skipped).toBe(b.total);
    for (const problem of [...a.problems, ...b.problems]) expect(problem).toMatchObject({ outcome: 'SKIPPED', detail: expect.stringMatching(/^batch .* acted on this run$/) });

    await eventually(async () => ((await statusCounts(definitionId)).SUCCESS === RUNS ? true : undefined), WAITS.succeeded, 'every run to succeed').catch(
      async (err: unknown) => {
        const { rows } = await sql`select id, status, error, run_id from workflow_executions
          where definition_id = ${definitionId} and status <> 'SUCCESS' limit 5`.execute(h.db);
        throw new Error(`${String(err)}: ${JSON.stringify(await statusCounts(definitionId))}, e.g. ${JSON.stringify(rows)}`);
      },
    );
    // Steps 1–2 went out once per run, before the outage; steps 3–5 once, after the reset.
    expect(mails('received')).toHaveLength(RUNS);
    expect(new Set(mails('received')).size).toBe(RUNS);
    expect(posts('/slack').filter((t) => t.startsWith('order from'))).toHaveLength(RUNS);
    expect(mails('synced')).toHaveLength(RUNS);
    expect(new Set(mails('synced')).size).toBe(RUNS);
    expect(posts('/slack').filter((t) => t.startsWith('synced'))).toHaveLength(RUNS);
    // The CRM: at most the three attempts of the retry policy per run in the outage; then each reset
    // run's call taken once, or again where the worker was killed while it waited on the answer.
    expect(crmCalls.size).toBe(RUNS);
    for (const [user, calls] of crmCalls) {
      expect(calls.refused, user).toBeLessThanOrEqual(3);
      expect(calls.taken, user).toBeGreaterThanOrEqual(1);
    }
    const taken = [...crmCalls.values()].reduce((sum, c) => sum + c.taken, 0);
    expect(taken).toBeLessThan(RUNS + 10);

    // Each failed run was claimed by one batch, once.
    const { rows: claims } = await sql<{ n: number; executions: number }>`
      select count(*)::int as n, count(distinct execution_id)::int as executions from recovery_claims`.execute(h.db);
    expect(claims[0]).toEqual({ n: RUNS, executions: RUNS });

    // On record: both batches, by whom, why, with the filter and outcome.
    const audit = (await h.api('GET', '/api/audit')).body.items;
    expect(audit).toEqual([
      expect.objectContaining({ action: 'batch.reset', target: batchB, actor: 'test harness', reason: 'CRM back up (again)', filter: expect.objectContaining(filter) }),
      expect.objectContaining({ action: 'batch.reset', target: batchA, reason: 'CRM back up', outcome: { batchId: batchA, total: RUNS, to: 'failed-step' } }),
    ]);
    // A batch that has ended cannot be cancelled.
    const late = await h.api('POST', `/api/batches/${batchA}/cancel`, { reason: 'too late' });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('batch_finished');
  }, Object.values(WAITS).reduce((a, b) => a + b) + runTimeout({ extra: '20s' }));
});

describe('bulk replay, cancelled', () => {
  it('stops a batch on request: the runs not begun are skipped, and the audit says who stopped it', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'replay-me-in-bulk',
      name: 'Fails at once',
      steps: [{ id: 'boom', type: 'http', url: `${peers.url}/crm-broken`, retry: { maximumAttempts: 1 } }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    peers.respond = (req) => (req.path === '/crm-broken' ? { status: 400, body: { error: 'bad' } } : { status: 200, body: { ok: true } });
    await Promise.all(Array.from({ length: 30 }, () => h.api('POST', '/api/workflows/replay-me-in-bulk/execute', { triggerData: {} })));
    await eventually(async () => ((await statusCounts(created.body.id)).FAILED === 30 ? true : undefined), runTimeout({ steps: 1, runs: 30 }), 'the runs to fail');

    const preview = await h.api('POST', '/api/executions/bulk/replay', { filter: { definition: 'replay-me-in-bulk' }, reason: 'try again', dryRun: true });
    expect(preview.body.runs[0].action).toMatch(/^replay: a new execution/);
    await processes.killAll();
    const started = await h.api('POST', '/api/executions/bulk/replay', { filter: { definition: 'replay-me-in-bulk' }, reason: 'try again', concurrency: 1 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const batchId = started.body.batchId as string;
    // No worker runs: the batch has not begun when it is cancelled.
    const cancelled = await h.api('POST', `/api/batches/${batchId}/cancel`, { reason: 'wrong filter' });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(202);
    await startWorker();
    const batch = await eventually(
      async () => {
        const b = (await h.api('GET', `/api/batches/${batchId}`)).body;
        return b.status === 'CANCELLED' ? b : undefined;
      },
      runTimeout({ steps: 1, runs: 30 }),
      'the batch to end cancelled',
    );
    expect(batch.done + batch.skipped).toBe(30);
    expect(batch.skipped).toBeGreaterThan(0);
    const audit = (await h.api('GET', `/api/audit?target=${batchId}`)).body.items;
    expect(audit.map((e: { action: string; reason: string }) => `${e.action}: ${e.reason}`)).toEqual(['batch.cancel: wrong filter', 'batch.replay: try again']);
  }, 2 * runTimeout({ steps: 1, runs: 30, extra: '10s' }) + runTimeout());
});
