/**
 * The production topology under load, on the real Temporal server (project
 * `integration-server`): two workers and two gateways as processes of their
 * own, 500 runs started through both at once, one worker and one gateway
 * SIGKILLed mid-load and started again. Every accepted start ends SUCCESS,
 * every notification is delivered once (the ledger's crash window held shut
 * at the peers, as in worker-failover.test.ts), no log row is written twice, the
 * live gateway never answers 500; and the rate limit holds across both
 * gateways through Redis.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { type HttpSink, type SmtpSink, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { holdDeliveries } from '../support/deliveries';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

const RUNS = 500;
const IN_FLIGHT = 16;
/** Three notifications per run, 16 starts in flight; the killed attempts' heartbeat timeout; a worker and a gateway to start again. */
const NEEDS = { steps: 3, runs: RUNS, parallel: IN_FLIGHT, timers: '10s', extra: '20s' };
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers at REDIS_URL: CI always has it; elsewhere the rate-limit test says it needs it. */
async function redisAnswers(): Promise<boolean> {
  const { hostname, port } = new URL(REDIS_URL);
  return new Promise((done) => {
    const socket = connect({ host: hostname, port: Number(port || 6379), timeout: 1_000 });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
    socket.once('timeout', () => (socket.destroy(), done(false)));
  });
}
const withRedis = process.env.CI === 'true' || (await redisAnswers());

let h: Harness;
let smtp: SmtpSink;
let slack: HttpSink;
const processes = productProcesses();
let workers: ChildProcess[] = [];

beforeAll(async () => {
  [smtp, slack] = await Promise.all([startSmtpSink(), startHttpSink()]);
  h = await createHarness({ worker: false });
});

afterAll(async () => {
  await processes.killAll();
  await h?.close();
  await Promise.all([smtp?.close(), slack?.close()]);
});

function productEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return harnessEnvironment(h, {
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_FROM: 'automation@example.test',
    SLACK_WEBHOOK_URL: `${slack.url}/slack-webhook`,
    REDIS_URL,
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...extra,
  });
}

const startGateway = (port: number, extra: Record<string, string> = {}) =>
  processes.start('src/gateway/main.ts', productEnv({ PORT: String(port), ...extra }));
const startWorker = () => processes.start('src/worker/main.ts', productEnv());

type Outcome = { kind: 'accepted'; executionId: string; gateway: number } | { kind: 'refused'; status: number; gateway: number } | { kind: 'unreachable'; gateway: number };

describe('the cluster topology under failover', () => {
  it('runs 500 starts through two gateways to SUCCESS, once each, with a worker and a gateway killed mid-load', async () => {
    const ports = [await freePort(), await freePort()];
    workers = await Promise.all([startWorker(), startWorker()]);
    let gateways = await Promise.all(ports.map((port) => startGateway(port)));

    const created = await h.api('POST', '/api/workflows', {
      key: 'three-notes',
      name: 'Three notifications',
      steps: [
        { id: 'mail', type: 'email', to: '{{ input.user }}@example.test', subject: 'first', text: 'hello' },
        { id: 'post', type: 'slack', text: 'run for {{ input.user }}' },
        { id: 'again', type: 'email', to: '{{ input.user }}@example.test', subject: 'second', text: 'bye' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // Each start carries an Idempotency-Key, so a client that lost its gateway retries on the other
    // without starting a second run.
    const outcomes: Outcome[] = [];
    const accepted = new Map<number, string>();
    let next = 0;
    let killedAt = -1;
    const start = async (i: number, gateway: number): Promise<void> => {
      const res = await fetch(`http://127.0.0.1:${ports[gateway]}/api/workflows/three-notes/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${h.adminKey}`, 'idempotency-key': `start-${i}` },
        body: JSON.stringify({ triggerData: { user: `u${i}` } }),
      }).catch(() => undefined);
      if (!res) {
        outcomes.push({ kind: 'unreachable', gateway });
        return start(i, 1 - gateway);
      }
      if (res.status === 202 || res.status === 200) {
        const { executionId } = (await res.json()) as { executionId: string };
        outcomes.push({ kind: 'accepted', executionId, gateway });
        accepted.set(i, executionId);
      } else outcomes.push({ kind: 'refused', status: res.status, gateway });
    };
    const load = async () => {
      while (next < RUNS) await start(next++, next % 2);
    };
    const chaos = async () => {
      await eventually(async () => (accepted.size >= RUNS / 4 ? true : undefined), runTimeout({ ...NEEDS, runs: RUNS / 4 }), 'a quarter of the starts');
      killedAt = accepted.size;
      // The ledger's one blind spot is held shut while they die (test/support/deliveries.ts).
      const release = await holdDeliveries(h.db, smtp, [slack]);
      // The first worker and the second gateway die; the others carry on.
      await Promise.all([processes.kill(workers[0]!), processes.kill(gateways[1]!)]);
      release();
      const [restartedGateway] = await Promise.all([startGateway(ports[1]!), startWorker()]);
      gateways = [gateways[0]!, restartedGateway];
    };
    await Promise.all([...Array.from({ length: IN_FLIGHT }, load), chaos()]);

    expect(killedAt).toBeGreaterThan(0);
    const refused = outcomes.filter((o) => o.kind === 'refused');
    const unreachable = outcomes.filter((o) => o.kind === 'unreachable');
    // The live gateway answered everything; the killed one's callers saw connection errors, never a 5xx.
    expect(refused).toEqual([]);
    expect(unreachable.length).toBeGreaterThan(0);
    expect(unreachable.every((o) => o.gateway === 1)).toBe(true);
    expect(accepted.size).toBe(RUNS);

    // Every accepted start has a run, and every run ends SUCCESS in the mirror.
    const ids = [...new Set(accepted.values())];
    expect(ids).toHaveLength(RUNS);
    const statuses = async () =>
      (await sql<{ status: string; n: number }>`
        select status, count(*)::int as n from workflow_executions where id = any(${ids}::uuid[]) group by status`.execute(h.db)).rows;
    await eventually(
      async () => ((await statuses()).find((r) => r.status === 'SUCCESS')?.n === ids.length ? true : undefined),
      runTimeout(NEEDS),
      'every accepted run to succeed',
    ).catch(async (err: unknown) => {
      const { rows: ledger } = await sql`select status, channel, count(*)::int as n from deliveries group by status, channel`.execute(h.db);
      throw new Error(
        `${String(err)}: runs ${JSON.stringify(await statuses())}, ledger ${JSON.stringify(ledger)}, ` +
          `peers ${smtp.messages.length} mails, ${slack.requests.length} posts; output: ${processes.output().slice(-3000)}`,
      );
    });

    // One run per start, however often its request was sent; each notification once.
    const { rows: started } = await sql<{ n: number }>`
      select count(*)::int as n from workflow_executions where definition_id = ${created.body.id}`.execute(h.db);
    expect(started[0]!.n).toBe(RUNS);
    const mails = smtp.messages.map((m) => `${m.to.join(',')} ${/^Subject: (.*)$/m.exec(m.raw)?.[1]}`);
    expect(new Set(mails).size).toBe(mails.length);
    expect(mails.length).toBe(2 * started[0]!.n);
    const posts = slack.requests.map((r) => (r.json as { text: string }).text);
    const postedTwice = posts.filter((text, i) => posts.indexOf(text) !== i);
    if (postedTwice.length > 0) {
      // What the ledger says of every Slack delivery that took more than one attempt, to tell a retry after an ambiguous end from a takeover.
      const { rows: retried } = await sql`
        select delivery_key, status, attempts, claimed_by, last_error, created_at, updated_at from deliveries
        where channel = 'slack' and (attempts > 1 or last_error is not null)`.execute(h.db);
      expect.fail(`posted twice: ${postedTwice.join(', ')}; Slack deliveries retried: ${JSON.stringify(retried)}; output: ${processes.output().slice(-3000)}`);
    }
    expect(posts.length).toBe(started[0]!.n);

    // No log row twice.
    const { rows: twice } = await sql<{ n: number }>`
      select count(*)::int as n from (
        select execution_id, step_path, event, attempt from workflow_execution_logs
        group by execution_id, step_path, event, attempt having count(*) > 1) d`.execute(h.db);
    expect(twice[0]!.n).toBe(0);
  }, 2 * runTimeout(NEEDS));

  // Outside CI, only where a Redis answers (the shared limit is what is tested).
  it.runIf(withRedis)('holds one rate limit across both gateways through Redis', async () => {
    const limit = 30;
    const prefix = `wfa:test:${randomUUID()}:`;
    const ports = [await freePort(), await freePort()];
    await Promise.all(ports.map((port) => startGateway(port, { RATE_LIMIT_PER_MINUTE: String(limit), RATE_LIMIT_REDIS_PREFIX: prefix })));
    const statuses = await Promise.all(
      Array.from({ length: limit * 2 }, (_, i) =>
        fetch(`http://127.0.0.1:${ports[i % 2]}/api/workflows`, { headers: { authorization: `Bearer ${h.adminKey}` } }).then((r) => r.status),
      ),
    );
    // As one gateway would: the limit in all, the rest refused, whichever gateway took them.
    expect(statuses.filter((s) => s === 200)).toHaveLength(limit);
    expect(statuses.filter((s) => s === 429)).toHaveLength(limit);
  }, runTimeout({ extra: '10s' })); // two gateway processes to start
});
