/**
 * Runs started over HTTP, executed by the generic workflow on the real dev
 * server, delivered to real loopback peers, and mirrored into real Postgres.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { type HttpSink, type SmtpSink, slackApiReply, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { Category, DefinitionKey, DefinitionVersion, TriggerType } from '../../src/shared/search-attributes';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
let smtp: SmtpSink;
let slack: HttpSink;

beforeAll(async () => {
  [smtp, slack] = await Promise.all([startSmtpSink(), startHttpSink()]);
  slack.respond = slackApiReply;
  h = await createHarness({
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_API_URL: `${slack.url}/api/`,
      EXPRESSION_ENV: 'APP_NAME,SUPPORT_EMAIL',
      APP_NAME: 'Acme Automation',
      SUPPORT_EMAIL: 'help@acme.test',
    },
  });
});

afterAll(async () => {
  await h?.close();
  await Promise.all([smtp?.close(), slack?.close()]);
});

const fastRetry = { maximumAttempts: 2, initialInterval: '100ms' };

async function createDefinition(definition: Record<string, unknown>) {
  const res = await h.api('POST', '/api/workflows', definition);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; key: string; version: number };
}

async function execute(id: string, triggerData: Record<string, unknown>) {
  const res = await h.api('POST', `/api/workflows/${id}/execute`, { triggerData });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { executionId: string; workflowId: string; runId: string };
}

describe('a run started over HTTP', () => {
  it('reads the configuration values EXPRESSION_ENV exposes as env, captured in the run input', async () => {
    const def = await createDefinition({
      key: 'env-values',
      name: 'Env values',
      steps: [
        { id: 'sign', type: 'set', values: { signature: '{{ env.APP_NAME }} <{{ env.SUPPORT_EMAIL }}>', other: '{{ $exists(env.SMTP_HOST) }}' } },
      ],
    });
    const started = await execute(def.id, {});
    const handle = h.client.workflow.getHandle(started.workflowId);
    const result = await handle.result();
    expect(result.vars).toEqual({ signature: 'Acme Automation <help@acme.test>', other: false });
    const started0 = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
    const input = JSON.parse(Buffer.from(started0!.input!.payloads![0]!.data!).toString('utf8')) as { env?: unknown };
    expect(input.env).toEqual({ APP_NAME: 'Acme Automation', SUPPORT_EMAIL: 'help@acme.test' });
  });

  it('runs set, condition, email, slack and delay steps to SUCCESS and mirrors every step', async () => {
    const def = await createDefinition({
      key: 'order-shipped',
      name: 'Order shipped',
      category: 'orders',
      steps: [
        { id: 'greeting', type: 'set', values: { who: '{{ input.customer.name }}', total: '{{ $sum(input.items.price) }}' } },
        {
          id: 'bigOrder',
          type: 'condition',
          condition: 'vars.total > 100',
          then: [{ id: 'vip', type: 'set', values: { tier: 'vip' } }],
          else: [{ id: 'regular', type: 'set', values: { tier: 'regular' } }],
        },
        {
          id: 'mail',
          type: 'email',
          to: '{{ input.customer.email }}',
          subject: 'Your order {{ input.orderId }} shipped',
          text: 'Hello {{ vars.who }}, total {{ vars.total }} ({{ vars.tier }}).',
        },
        { id: 'pause', type: 'delay', duration: '200ms' },
        { id: 'notify', type: 'slack', channel: '#orders', text: 'Order {{ input.orderId }} shipped to {{ vars.who }}' },
        { id: 'never', type: 'slack', channel: '#orders', text: 'skipped', if: 'vars.tier = "regular"' },
      ],
    });

    const started = await execute(def.id, {
      orderId: 'A-17',
      customer: { name: 'Ada', email: 'ada@example.test' },
      items: [{ price: 80 }, { price: 45 }],
    });
    expect(started.workflowId).toBe(`order-shipped-${started.executionId}`);

    const result = await h.client.workflow.getHandle(started.workflowId).result();
    expect(result.status).toBe('SUCCESS');
    expect(result.vars).toMatchObject({ who: 'Ada', total: 125, tier: 'vip' });

    // Real deliveries reached the real peers.
    expect(smtp.messages).toHaveLength(1);
    expect(smtp.messages[0]?.to).toEqual(['ada@example.test']);
    expect(smtp.messages[0]?.raw).toContain('Subject: Your order A-17 shipped');
    expect(smtp.messages[0]?.raw).toContain('Hello Ada, total 125 (vip).');
    const posts = slack.requests.filter((r) => r.path.endsWith('/chat.postMessage'));
    expect(posts).toHaveLength(1);
    expect(new URLSearchParams(posts[0]?.body).get('text')).toBe('Order A-17 shipped to Ada');
    expect(posts[0]?.headers.authorization).toBe('Bearer xoxb-test-token');

    // The mirror row is final, with times, and one log row per step event.
    const res = await h.api('GET', `/api/executions/${started.executionId}`);
    expect(res.status).toBe(200);
    const execution = res.body;
    expect(execution.status).toBe('SUCCESS');
    expect(execution.runId).toBe(started.runId);
    expect(new Date(execution.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(execution.startedAt).getTime());
    expect(execution.durationMs).toBeGreaterThanOrEqual(200);
    const events = execution.logs.map((l: { stepPath: string; event: string }) => `${l.stepPath}:${l.event}`);
    expect(events).toEqual([
      'greeting:STARTED',
      'greeting:COMPLETED',
      'bigOrder:STARTED',
      'vip:STARTED',
      'vip:COMPLETED',
      'bigOrder:COMPLETED',
      'mail:STARTED',
      'mail:COMPLETED',
      'pause:STARTED',
      'pause:COMPLETED',
      'notify:STARTED',
      'notify:COMPLETED',
      'never:SKIPPED',
    ]);
    const mailDone = execution.logs.find((l: { stepPath: string; event: string }) => l.stepPath === 'mail' && l.event === 'COMPLETED');
    expect(mailDone.output.accepted).toEqual(['ada@example.test']);
  });

  it('is findable in Temporal by its search attributes, with memo and summaries', async () => {
    const def = await createDefinition({
      key: 'findable',
      name: 'Findable run',
      category: 'ops',
      steps: [{ id: 'only', type: 'set', values: { done: true } }],
    });
    const started = await execute(def.id, {});
    const handle = h.client.workflow.getHandle(started.workflowId);
    await handle.result();
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(DefinitionKey)).toBe('findable');
    expect(description.typedSearchAttributes.get(DefinitionVersion)).toBe(1);
    expect(description.typedSearchAttributes.get(Category)).toBe('ops');
    expect(description.typedSearchAttributes.get(TriggerType)).toBe('manual');
    expect(description.memo).toMatchObject({ definitionName: 'Findable run', definitionVersion: 1 });
    expect(await description.staticSummary()).toBe('Findable run (v1)');

    // The visibility store answers a list query by the same attributes (eventually consistent).
    const query = `DefinitionKey = "findable" AND Category = "ops" AND ExecutionStatus = "Completed"`;
    await eventually(async () => {
      for await (const wf of h.client.workflow.list({ query })) if (wf.workflowId === started.workflowId) return true;
      return undefined;
    }, undefined, `${started.workflowId} listed by ${query}`);
  });

  it("says in the Temporal UI's current details that a finished run finished, and how, not which step it last started", async () => {
    const metadata = async (workflowId: string) =>
      (await h.client.workflow.getHandle(workflowId).query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails;
    const def = await createDefinition({
      key: 'details-end',
      name: 'Details at the end',
      steps: [
        { id: 'first', type: 'set', values: { n: 1 } },
        { id: 'stop', type: 'condition', condition: 'input.fail = true', then: [{ id: 'refuse', type: 'fail', message: 'refused on purpose' }] },
      ],
    });
    const ok = await execute(def.id, {});
    await h.client.workflow.getHandle(ok.workflowId).result();
    expect(await metadata(ok.workflowId)).toBe('Finished, SUCCESS');

    const failed = await execute(def.id, { fail: true });
    await h.client.workflow.getHandle(failed.workflowId).result().catch(() => undefined);
    expect(await metadata(failed.workflowId)).toMatch(/^Finished, FAILED: .*refused on purpose/);
  });

  it('ends FAILED with the error in the row when SMTP cannot be reached, after the allowed retries', async () => {
    const closedPort = await freePort();
    const broken = await createHarness({
      env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(closedPort), SMTP_FROM: 'automation@example.test' },
    });
    try {
      const res = await broken.api('POST', '/api/workflows', {
        key: 'unreachable-smtp',
        name: 'Unreachable SMTP',
        steps: [{ id: 'mail', type: 'email', to: 'x@example.test', subject: 'hi', text: 'hi', retry: fastRetry }],
      });
      expect(res.status).toBe(201);
      const started = await broken.api('POST', `/api/workflows/${res.body.id}/execute`, { triggerData: {} });
      expect(started.status).toBe(202);
      const handle = broken.client.workflow.getHandle(started.body.workflowId);

      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const stepFailure = (err as WorkflowFailedError).cause;
      expect(stepFailure).toBeInstanceOf(ApplicationFailure);
      expect((stepFailure as ApplicationFailure).type).toBe('StepFailed');
      const activityFailure = (stepFailure as ApplicationFailure).cause;
      expect(activityFailure).toBeInstanceOf(ActivityFailure);
      const cause = (activityFailure as ActivityFailure).cause as ApplicationFailure;
      expect(cause.type).toBe('ProviderUnavailable');

      // Two attempts, as the step's retry policy allows: the last attempt's start event says which it was.
      const history = await handle.fetchHistory();
      const starts = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
      expect(starts.map((e) => Number(e.activityTaskStartedEventAttributes?.attempt))).toEqual([2]);

      const row = await broken.api('GET', `/api/executions/${started.body.executionId}`);
      expect(row.body.status).toBe('FAILED');
      expect(row.body.error).toMatch(/step "mail" \(email\) failed: SMTP .*ECONNREFUSED|ECONNECTION/);
      expect(row.body.finishedAt).toBeTruthy();
      const failed = row.body.logs.find((l: { event: string }) => l.event === 'FAILED');
      expect(failed.error).toMatch(/SMTP/);
    } finally {
      await broken.close();
    }
  });

  it('fails at once, without retrying, when the SMTP server refuses the recipient', async () => {
    smtp.rejectRecipients.add('nobody@example.test');
    const def = await createDefinition({
      key: 'bad-recipient',
      name: 'Bad recipient',
      steps: [{ id: 'mail', type: 'email', to: 'nobody@example.test', subject: 'hi', text: 'hi', retry: { maximumAttempts: 5 } }],
    });
    const started = await execute(def.id, {});
    const handle = h.client.workflow.getHandle(started.workflowId);
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const history = await handle.fetchHistory();
    const attempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(attempts).toHaveLength(1);
    const row = await h.api('GET', `/api/executions/${started.executionId}`);
    expect(row.body.status).toBe('FAILED');
    expect(row.body.error).toContain('550');
  });
});
