/**
 * `foreach` on the real dev server: per-item outputs and deliveries, the
 * bound on list length, and a 5,000-item list run in child-workflow chunks so
 * no history grows large.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { runTimeout } from '../support/timeouts';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;
let smtp: SmtpSink;

beforeAll(async () => {
  smtp = await startSmtpSink();
  h = await createHarness({ env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'loop@example.test' } });
});

afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

async function run(key: string, steps: unknown[], triggerData: Record<string, unknown>) {
  const def = await h.api('POST', '/api/workflows', { key, name: key, steps });
  expect(def.status, JSON.stringify(def.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status).toBe(202);
  return { ...started.body, handle: h.client.workflow.getHandle(started.body.workflowId) } as {
    executionId: string;
    workflowId: string;
    handle: ReturnType<Harness['client']['workflow']['getHandle']>;
  };
}

describe('foreach', () => {
  it('runs the steps per item, concurrently, each iteration with its own outputs and delivery', async () => {
    const users = [
      { name: 'Ada', email: 'ada@example.test' },
      { name: 'Grace', email: 'grace@example.test' },
      { name: 'Edsger', email: 'edsger@example.test' },
      { name: 'Barbara', email: 'barbara@example.test' },
    ];
    const started = await run(
      'loop-mail',
      [
        {
          id: 'each',
          type: 'foreach',
          items: 'input.users',
          maxItems: 10,
          concurrency: 2,
          steps: [
            { id: 'greeting', type: 'set', values: { last: '{{ loop.item.name }}' } },
            { id: 'mail', type: 'email', to: '{{ loop.item.email }}', subject: 'Hi #{{ loop.index }}', text: 'Hello {{ loop.item.name }}' },
            { id: 'echo', type: 'set', values: { seen: '{{ steps.mail.output.accepted[0] }}' } },
          ],
        },
      ],
      { users },
    );
    await started.handle.result();
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(users.map((u) => u.email).sort());
    expect(smtp.messages.find((m) => m.to[0] === 'edsger@example.test')?.raw).toContain('Subject: Hi #2');

    const state = await started.handle.query<{ steps: { path: string; status: string; output?: any }[] }>('state');
    const each = state.steps.find((s) => s.path === 'each');
    expect(each?.output.count).toBe(4);
    expect(each?.output.results.map((r: { echo: { seen: string } }) => r.echo.seen)).toEqual(users.map((u) => u.email));

    const res = await h.api('GET', `/api/executions/${started.executionId}`);
    const paths = new Set(res.body.logs.map((l: { stepPath: string }) => l.stepPath));
    expect([...paths]).toEqual(expect.arrayContaining(['each', 'each[0].mail', 'each[3].echo']));
    const ledger = await h.db.selectFrom('deliveries').select('step_path').execute();
    expect(ledger.map((r) => r.step_path).sort()).toEqual(['each[0].mail', 'each[1].mail', 'each[2].mail', 'each[3].mail']);
  });

  it('fails when the list is longer than maxItems, or not a list', async () => {
    const long = await run('loop-too-long', [{ id: 'each', type: 'foreach', items: 'input.xs', maxItems: 2, steps: [{ id: 'n', type: 'set', values: {} }] }], {
      xs: [1, 2, 3],
    });
    await expect(long.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const row = await h.api('GET', `/api/executions/${long.executionId}`);
    expect(row.body.error).toMatch(/3 items, more than its maxItems of 2/);

    const notList = await run('loop-not-list', [{ id: 'each', type: 'foreach', items: 'input.xs', maxItems: 2, steps: [{ id: 'n', type: 'set', values: {} }] }], {
      xs: 'abc',
    });
    await expect(notList.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  });

  it('completes 5,000 items in child-workflow chunks, keeping every history small', async () => {
    const items = Array.from({ length: 5_000 }, (_, i) => i);
    const started = await run(
      'loop-5000',
      [
        { id: 'start', type: 'set', values: { factor: 3 } },
        {
          id: 'each',
          type: 'foreach',
          items: 'input.items',
          maxItems: 10_000,
          concurrency: 10,
          steps: [{ id: 'times', type: 'set', values: { last: '{{ loop.item * vars.factor }}' } }],
        },
        { id: 'sum', type: 'set', values: { total: '{{ $sum(steps.each.output.results.times.last) }}' } },
      ],
      { items },
    );
    const result = await started.handle.result();
    expect(result.vars.total).toBe(3 * ((4_999 * 5_000) / 2));

    const parentEvents = (await started.handle.fetchHistory()).events ?? [];
    const kinds: Record<string, number> = {};
    for (const e of parentEvents) kinds[String(e.eventType)] = (kinds[String(e.eventType)] ?? 0) + 1;
    expect(parentEvents.length, JSON.stringify(kinds)).toBeLessThan(200);
    const childStarts = parentEvents.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(childStarts.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)).toEqual(
      Array.from({ length: 10 }, (_, k) => `${started.workflowId}:each:${k * 500}`),
    );
    const lastChild = await h.client.workflow.getHandle(`${started.workflowId}:each:4500`).fetchHistory();
    expect(lastChild.events?.length ?? 0).toBeLessThan(200);
    const logCount = await h.db
      .selectFrom('workflow_execution_logs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('execution_id', '=', started.executionId)
      .where('step_id', '=', 'times')
      .executeTakeFirstOrThrow();
    expect(Number(logCount.n)).toBe(10_000);
    expect((await h.api('GET', `/api/executions/${started.executionId}`)).body.status).toBe('SUCCESS');
    // Eleven runs (the parent and ten chunks of 500 items), and 15 s or so of evaluating the items' expressions on a quiet machine.
  }, runTimeout({ runs: 11, steps: 3, extra: '15s' }));
});
