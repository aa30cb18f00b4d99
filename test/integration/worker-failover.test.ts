/**
 * A worker that dies mid-step: its step is retried on a new worker within
 * the heartbeat timeout, not the step's 300 s timeout, and the delivery
 * ledger still sends each mail once. The worker runs as its own process, so
 * it can be SIGKILLed while an email step waits on the SMTP server.
 */
import type { ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { startSmtpSink, type SmtpSink } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

const RUNS = 10;
const STEPS = 5;
/** The step's start-to-close timeout (the default), which a killed attempt must not have waited out. */
const STEP_TIMEOUT_MS = 300_000;
/** Every run's mails, the killed attempts' heartbeat timeout (10 s), and two worker processes to start. */
const NEEDS = { timers: '10s', steps: STEPS, runs: RUNS, extra: '20s' };

let h: Harness;
let smtp: SmtpSink;
const processes = productProcesses();

beforeAll(async () => {
  smtp = await startSmtpSink();
  h = await createHarness({ worker: false, env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'automation@example.test' } });
});

afterAll(async () => {
  await processes.killAll();
  await h?.close();
  await smtp?.close();
});

/** Starts `src/worker/main.ts` on the harness's task queue and waits until it polls. */
function startWorkerProcess(): Promise<ChildProcess> {
  return processes.start(
    'src/worker/main.ts',
    harnessEnvironment(h, { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'automation@example.test' }),
  );
}

describe('a worker killed mid-step', () => {
  it('resumes the step on a new worker within the heartbeat timeout, and sends each mail once', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'five-mails',
      name: 'Five mails',
      steps: Array.from({ length: STEPS }, (_, i) => ({
        id: `mail${i + 1}`,
        type: 'email',
        to: `{{ input.user }}+s${i + 1}@example.test`,
        subject: `step ${i + 1}`,
        text: 'hello',
      })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // Phase 'running': mail flows. At the first step-3 recipient, 'frozen': every
    // recipient from then on waits for ever (its connection dies with the worker), and
    // a mail read whole waits for the kill, after which it is taken only if its client
    // is still there; so no mail is accepted whose ledger row is not yet SENT.
    // 'after': flows again, and a mail the killed worker sent as it died is not taken.
    let phase: 'running' | 'frozen' | 'after' = 'running';
    let frozeAt: (() => void) | undefined;
    const frozen = new Promise<void>((r) => (frozeAt = r));
    let killed!: () => void;
    const afterKill = new Promise<void>((r) => (killed = r));
    smtp.onRecipient = (address) => {
      if (phase === 'running' && address.includes('+s3@')) {
        phase = 'frozen';
        smtp.onArrival = () => afterKill;
        frozeAt!();
      }
      return phase === 'frozen' ? new Promise<void>(() => undefined) : undefined;
    };

    const first = await startWorkerProcess();
    const runs = await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const started = await h.api('POST', '/api/workflows/five-mails/execute', { triggerData: { user: `user${i}` } });
        expect(started.status, JSON.stringify(started.body)).toBe(202);
        return started.body as { executionId: string; workflowId: string };
      }),
    );

    let reachedStep3 = false;
    void frozen.then(() => (reachedStep3 = true));
    await eventually(async () => (reachedStep3 ? true : undefined), runTimeout({ steps: 2, runs: RUNS }), 'a step-3 mail').catch((err: unknown) => {
      throw new Error(`${String(err)}; ${smtp.messages.length} mails; worker output: ${processes.output().slice(-3000)}`);
    });
    // Every accepted mail's row says SENT before the kill: the ledger's one blind spot stays shut.
    await eventually(async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from deliveries where status = 'SENT'`.execute(h.db);
      return rows[0]!.n === smtp.messages.length ? true : undefined;
    }, runTimeout(), 'the ledger to record every accepted mail');
    await processes.kill(first);
    phase = 'after';
    smtp.onArrival = undefined;
    smtp.deadClientGuard = true;
    killed();
    await startWorkerProcess();

    const rows = await Promise.all(
      runs.map(({ executionId }) =>
        eventually(async () => {
          const row = await findExecution(h.db, executionId);
          return row?.status === 'SUCCESS' ? row : row?.status === 'FAILED' ? Promise.reject(new Error(`run failed: ${row.error}`)) : undefined;
        }, runTimeout(NEEDS), `run ${executionId} to succeed`),
      ),
    );
    expect(rows).toHaveLength(RUNS);

    const sent = smtp.messages.map((m) => m.to.join(','));
    expect(sent.length).toBe(RUNS * STEPS);
    expect(new Set(sent).size).toBe(RUNS * STEPS);

    // The killed attempts ended by their heartbeat timeout, not their 300 s start-to-close timeout:
    // the retried attempt's started event carries the earlier attempt's failure.
    const timeouts: string[] = [];
    for (const { workflowId } of runs) {
      const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
      for (const event of history.events ?? []) {
        const started = event.activityTaskStartedEventAttributes;
        if (!started || (started.attempt ?? 1) < 2) continue;
        timeouts.push(String(started.lastFailure?.timeoutFailureInfo?.timeoutType));
      }
    }
    expect(timeouts.length).toBeGreaterThan(0);
    expect(new Set(timeouts)).toEqual(new Set(['4'])); // TIMEOUT_TYPE_HEARTBEAT
    // And no run waited out that timeout (the heartbeat timeout type above is what says why).
    const durations = rows.map((r) => r.duration_ms ?? Number.POSITIVE_INFINITY);
    expect(Math.max(...durations)).toBeLessThan(STEP_TIMEOUT_MS);
  }, 2 * runTimeout(NEEDS));
});
