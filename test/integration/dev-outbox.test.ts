/**
 * The dev outbox: with DEV_OUTBOX on, a notification step whose channel has
 * no credentials records its message in Postgres, not delivered, and the run
 * goes on; with it off (the production default) the run fails naming the
 * variable to set. Credentials that are set stay out of the outbox, the log
 * line and the run's history.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { createHarness, type Harness } from '../support/harness';
import { readableHistory } from '../support/history';
import { productCommand } from '../support/processes';

/** Set, but not enough to send: SMTP has a password and no host, Twilio a token and no account. */
const SECRETS = { SMTP_PASS: 'smtp-pass-0b6d21', TWILIO_AUTH_TOKEN: 'twilio-token-c4e719' };

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ env: { DEV_OUTBOX: 'true', SMTP_USER: 'mailer', ...SECRETS } });
});

afterAll(async () => {
  await h?.close();
});

const definition = {
  key: 'welcome-everywhere',
  name: 'Welcome everywhere',
  steps: [
    {
      id: 'mail',
      type: 'email',
      to: '{{ input.email }}',
      subject: 'Welcome, {{ input.name }}',
      text: 'Hello {{ input.name }}',
      attachments: [
        { filename: 'terms.pdf', url: 'https://files.example.test/terms.pdf' },
        { filename: 'note.txt', content: 'see you soon' },
      ],
    },
    { id: 'text', type: 'sms', to: '{{ input.phone }}', body: 'Welcome {{ input.name }}' },
    { id: 'chat', type: 'slack', channel: '#signups', text: '{{ input.name }} signed up' },
    { id: 'card', type: 'teams', title: 'New customer', text: '{{ input.name }}' },
    { id: 'after', type: 'set', values: { smsDelivered: '{{ steps.text.output.delivered }}', missing: '{{ steps.text.output.missing }}' } },
  ],
};

async function start(harness: Harness) {
  const created = await harness.api('POST', '/api/workflows', definition);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const started = await harness.api('POST', `/api/workflows/${created.body.id}/execute`, {
    triggerData: { email: 'ada@example.test', name: 'Ada', phone: '+14155550123' },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { handle: harness.client.workflow.getHandle(started.body.workflowId), started: started.body };
}

describe('with DEV_OUTBOX on', () => {
  it('records every unconfigured channel in the outbox, not delivered, and the run completes', async () => {
    const { handle, started } = await start(h);
    const result = await handle.result();
    expect(result.status).toBe('SUCCESS');
    expect(result.vars).toEqual({ smsDelivered: false, missing: ['TWILIO_ACCOUNT_SID', 'TWILIO_PHONE_NUMBER'] });

    const rows = await h.db.selectFrom('dev_outbox').selectAll().where('workflow_id', '=', started.workflowId).orderBy('created_at').execute();
    expect(rows.map((r) => [r.channel, r.step_path, r.recipient])).toEqual([
      ['email', 'mail', 'ada@example.test'],
      ['sms', 'text', '+14155550123'],
      ['slack', 'chat', '#signups'],
      ['teams', 'card', 'webhook'],
    ]);
    expect(rows[0]!.message).toEqual({
      to: 'ada@example.test',
      subject: 'Welcome, Ada',
      text: 'Hello Ada',
      attachments: [
        { filename: 'terms.pdf', url: 'https://files.example.test/terms.pdf' },
        { filename: 'note.txt', bytes: 12 },
      ],
    });
    expect(rows[1]!.message).toEqual({ to: '+14155550123', body: 'Welcome Ada' });
    expect(rows.map((r) => r.delivery_key)).toEqual(['mail', 'text', 'chat', 'card'].map((s) => `${started.workflowId}/${s}`));

    // The step's output in the mirror says where the message went.
    const row = await h.api('GET', `/api/executions/${started.executionId}`);
    const completed = row.body.logs.find((l: { stepId: string; event: string }) => l.stepId === 'mail' && l.event === 'COMPLETED');
    expect(completed.output).toMatchObject({ delivered: false, outbox: true, channel: 'email', missing: ['SMTP_HOST', 'SMTP_FROM'], outboxId: rows[0]!.id });

    const history = await readableHistory(handle);
    const stored = JSON.stringify([rows, await h.db.selectFrom('workflow_execution_logs').selectAll().execute()]);
    expect(history).toContain('ada@example.test');
    for (const secret of Object.values(SECRETS)) {
      expect(history).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });

  it('lists what was recorded, without SQL: GET /api/outbox and npm run cli -- outbox, marked not delivered', async () => {
    // The definition the test above created, run again.
    const run = await h.api('POST', `/api/workflows/${definition.key}/execute`, { triggerData: { email: 'ada@example.test', name: 'Ada', phone: '+14155550123' } });
    expect(run.status, JSON.stringify(run.body)).toBe(202);
    const started = run.body as { executionId: string; workflowId: string };
    await h.client.workflow.getHandle(started.workflowId).result();
    const listed = await h.api('GET', `/api/outbox?execution=${started.executionId}`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.items.map((m: { channel: string; stepPath: string }) => [m.channel, m.stepPath]).sort()).toEqual([
      ['email', 'mail'],
      ['slack', 'chat'],
      ['sms', 'text'],
      ['teams', 'card'],
    ]);
    const sms = listed.body.items.find((m: { channel: string }) => m.channel === 'sms');
    expect(sms).toMatchObject({ delivered: false, recipient: '+14155550123', executionId: started.executionId, message: { to: '+14155550123', body: 'Welcome Ada' } });
    const teamsOnly = await h.api('GET', `/api/outbox?execution=${started.executionId}&channel=teams`);
    expect(teamsOnly.body.items).toEqual([expect.objectContaining({ channel: 'teams', stepPath: 'card' })]);
    expect((await h.api('GET', '/api/outbox?channel=fax')).status).toBe(400);

    const cli = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, productCommand('src/cli/main.ts', 'outbox', '--run', started.executionId), {
        env: { ...process.env, WFA_URL: h.baseUrl, WFA_API_KEY: h.adminKey },
      });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout }));
    });
    expect(cli.code).toBe(0);
    expect(cli.stdout.split('\n')[0]).toMatch(/^recorded\s+channel\s+to\s+run\s+step\s+message \(not delivered\)$/);
    expect(cli.stdout).toMatch(new RegExp(`sms\\s+\\+14155550123\\s+${started.executionId}\\s+text\\s+Welcome Ada`));
    expect(cli.stdout).toMatch(/email\s+ada@example\.test\s+\S+\s+mail\s+Welcome, Ada: Hello Ada/);

    // The deliveries reports show them as such, beside the ledger's statuses, counted live.
    const today = new Date().toISOString().slice(0, 10);
    const outboxRow = (channel: string) => ({ day: today, channel, status: 'OUTBOX', deliveries: expect.any(Number), attempts: 0 });
    const report = await h.api('GET', '/api/reports/deliveries');
    expect(report.body.items).toEqual(expect.arrayContaining(['email', 'sms', 'slack', 'teams'].map(outboxRow)));
    const summary = await h.api('GET', '/api/reports/summary');
    expect(summary.body.deliveries).toEqual(expect.arrayContaining([{ channel: 'sms', status: 'OUTBOX', deliveries: expect.any(Number) }]));
  });

  it('records a retried delivery once, and logs one line without secrets or the message body', async () => {
    const lines: { level: LogLevel; message: string; meta?: LogMetadata | undefined }[] = [];
    const logger = {
      log: (level: LogLevel, message: string, meta?: LogMetadata) => void lines.push({ level, message, meta }),
      trace: (message: string, meta?: LogMetadata) => void lines.push({ level: 'TRACE', message, meta }),
      debug: (message: string, meta?: LogMetadata) => void lines.push({ level: 'DEBUG', message, meta }),
      info: (message: string, meta?: LogMetadata) => void lines.push({ level: 'INFO', message, meta }),
      warn: (message: string, meta?: LogMetadata) => void lines.push({ level: 'WARN', message, meta }),
      error: (message: string, meta?: LogMetadata) => void lines.push({ level: 'ERROR', message, meta }),
    };
    const env = new MockActivityEnvironment(undefined, { logger });
    const activities = createActivities({ config: h.config, db: h.db });
    const deliveryKey = `wf-${randomUUID()}/remind`;
    const input = { deliveryKey, to: '+14155550199', body: 'Your code is 4242' };

    // The mock environment does not carry the activity's return type through.
    const send = () => env.run(activities.sendSms, input) as ReturnType<typeof activities.sendSms>;
    const first = await send();
    const second = await send();
    expect(first).toMatchObject({ delivered: false, outbox: true, channel: 'sms' });
    expect(second).toEqual({ ...first, deduplicated: true });
    expect(await h.db.selectFrom('dev_outbox').selectAll().where('delivery_key', '=', deliveryKey).execute()).toHaveLength(1);

    const outboxLines = lines.filter((l) => l.message.startsWith('dev outbox'));
    expect(outboxLines).toEqual([
      {
        level: 'INFO',
        message: 'dev outbox: sms to +14155550199 recorded, not sent (TWILIO_ACCOUNT_SID, TWILIO_PHONE_NUMBER not set)',
        meta: expect.objectContaining({ deliveryKey, preview: 'Your code is 4242', outboxId: expect.any(String) }),
      },
    ]);
    const logged = JSON.stringify(lines);
    for (const secret of Object.values(SECRETS)) expect(logged).not.toContain(secret);
  });

  it('still validates the message: a malformed phone number fails, and nothing is recorded', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    const deliveryKey = `wf-${randomUUID()}/bad`;
    await expect(activities.sendSms({ deliveryKey, to: '0612345678', body: 'x' })).rejects.toMatchObject({ type: 'InvalidRecipient' });
    expect(await h.db.selectFrom('dev_outbox').selectAll().where('delivery_key', '=', deliveryKey).execute()).toHaveLength(0);
  });
});

describe('with DEV_OUTBOX off', () => {
  it('is off by default in production: the run fails at once naming the missing variables, and nothing is recorded', async () => {
    const production = await createHarness({ env: { NODE_ENV: 'production', ...SECRETS } });
    try {
      expect(production.config.devOutbox).toBe(false);
      const { handle, started } = await start(production);
      const err = await handle.result().catch((e: unknown) => e);
      // WorkflowFailedError → StepFailed → ActivityFailure → the activity's ApplicationFailure.
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const stepFailed = (err as WorkflowFailedError).cause;
      expect(stepFailed).toMatchObject({ type: 'StepFailed', message: expect.stringMatching(/^step "mail" \(email\) failed: /) });
      const activityFailure = (stepFailed as ApplicationFailure).cause;
      expect(activityFailure).toBeInstanceOf(ActivityFailure);
      const cause = (activityFailure as ActivityFailure).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({
        type: 'ChannelNotConfigured',
        nonRetryable: true,
        message: 'email is not configured: set SMTP_HOST and SMTP_FROM',
      });
      const history = await handle.fetchHistory();
      expect(history.events?.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
      expect(await production.db.selectFrom('dev_outbox').selectAll().execute()).toEqual([]);
      const row = await production.api('GET', `/api/executions/${started.executionId}`);
      expect(row.body.status).toBe('FAILED');
      expect(row.body.error).toContain('SMTP_HOST');
    } finally {
      await production.close();
    }
  });

  it('outside production, names the switch too', async () => {
    const activities = createActivities({ config: { ...h.config, devOutbox: false }, db: h.db });
    await expect(activities.sendTeams({ deliveryKey: `wf-${randomUUID()}/card`, text: 'x' })).rejects.toMatchObject({
      type: 'ChannelNotConfigured',
      message: 'Teams is not configured: set TEAMS_WEBHOOK_URL (or set DEV_OUTBOX=true to record such messages in the dev outbox)',
    });
  });
});
