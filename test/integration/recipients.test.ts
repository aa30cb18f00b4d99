/**
 * One recipient is one recipient, in real runs: trigger data templated into an
 * email step's `to`, `cc`, `bcc` or `replyTo`, an SMS number or a Slack channel
 * cannot name several recipients, hide one behind a display name or smuggle a
 * header. Each such run fails its step with `InvalidRecipient` after one
 * attempt, with nothing sent and no delivery claimed; a JSON array is a list.
 * A stored version written with a literal list still sends to that list; a new
 * one is refused at save.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpSink, type SmtpSink, slackApiReply, startHttpSink, startSmtpSink, twilioMessagesReply } from '../../scripts/lib/sinks';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;
let smtp: SmtpSink;
let slack: HttpSink;
let twilio: HttpSink;
/** Definition ids by key, made once. */
const ids = new Map<string, string>();

const EMAIL_FORM =
  'must be one plain address such as ada@example.com (no display name, list, comment or line break), or a list of such addresses given as a JSON array';

beforeAll(async () => {
  [smtp, slack, twilio] = await Promise.all([startSmtpSink(), startHttpSink(), startHttpSink()]);
  h = await createHarness({
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'automation@example.test',
      SLACK_BOT_TOKEN: 'xoxb-recipients',
      SLACK_API_URL: `${slack.url}/api/`,
      TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000002',
      TWILIO_AUTH_TOKEN: 'twilio-recipients',
      TWILIO_PHONE_NUMBER: '+14155550100',
      TWILIO_API_URL: twilio.url,
    },
  });
  const retry = { maximumAttempts: 3, initialInterval: '100ms' };
  const definitions = [
    {
      key: 'recipients-mail',
      name: 'Templated recipients',
      steps: [
        {
          id: 'mail',
          type: 'email',
          to: '{{ input.to }}',
          cc: '{{ input.cc }}',
          bcc: '{{ input.bcc }}',
          replyTo: '{{ input.replyTo }}',
          subject: 'Run {{ input.marker }}',
          text: 'x',
          retry,
        },
      ],
    },
    {
      key: 'recipients-user',
      name: 'Templated user part',
      steps: [{ id: 'mail', type: 'email', to: '{{ input.user }}@corp.example', subject: 'Run {{ input.marker }}', text: 'x', retry }],
    },
    { key: 'recipients-sms', name: 'Templated number', steps: [{ id: 'text', type: 'sms', to: '{{ input.phone }}', body: 'x', retry }] },
    { key: 'recipients-slack', name: 'Templated channel', steps: [{ id: 'post', type: 'slack', channel: '{{ input.channel }}', text: 'x', retry }] },
  ];
  for (const definition of definitions) {
    const created = await h.api('POST', '/api/workflows', definition);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    ids.set(definition.key, created.body.id as string);
  }
});

beforeEach(() => {
  slack.respond = slackApiReply;
  twilio.respond = twilioMessagesReply;
  slack.requests.length = 0;
  twilio.requests.length = 0;
  smtp.messages.length = 0;
});

afterAll(async () => {
  await h?.close();
  await Promise.all([smtp?.close(), slack?.close(), twilio?.close()]);
});

async function start(key: string, triggerData: Record<string, unknown>) {
  const started = await h.api('POST', `/api/workflows/${ids.get(key) ?? key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { handle: h.client.workflow.getHandle(started.body.workflowId as string), workflowId: started.body.workflowId as string };
}

/** The run's end as the failure at the bottom of its cause chain, and how many attempts its step's activity made. */
async function failureOf(handle: Awaited<ReturnType<typeof start>>['handle']) {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  while (cause instanceof Error && cause.cause) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const history = await handle.fetchHistory();
  const attempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes).length ?? 0;
  return { failure: cause as ApplicationFailure, attempts };
}

async function claimed(deliveryKey: string) {
  return h.db.selectFrom('deliveries').select('delivery_key').where('delivery_key', '=', deliveryKey).executeTakeFirst();
}

describe('a templated email recipient', () => {
  const marker = () => `m-${Math.random().toString(36).slice(2)}`;

  it.each([
    ['a list in text', { to: 'a@example.com, b@example.net' }, 'to', 'it holds several addresses'],
    ['a display name hiding another address', { to: '"a@example.com" <x@example.net>' }, 'to', 'it holds a display name or angle brackets'],
    ['a trailing CR/LF', { to: 'a@example.com\r\n' }, 'to', 'it holds a line break or another control character'],
    ['a smuggled Bcc header', { to: 'a@b.c\r\nBcc: x@y' }, 'to', 'it holds a line break or another control character'],
    ['a comment', { to: 'a@example.com (x@evil.example)' }, 'to', 'it holds a comment'],
    ['a list in cc', { to: 'a@example.com', cc: 'b@example.net;c@evil.example' }, 'cc', 'it holds several addresses'],
    ['a display name in bcc', { to: 'a@example.com', bcc: 'Boss <boss@evil.example>' }, 'bcc', 'it holds a display name or angle brackets'],
    ['a list in replyTo', { to: 'a@example.com', replyTo: 'a@example.com, x@evil.example' }, 'replyTo', 'it holds several addresses'],
  ])('refuses %s, before any send or claim', async (_name, recipients, field, fault) => {
    const { handle, workflowId } = await start('recipients-mail', { ...recipients, marker: marker() });
    const { failure, attempts } = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true });
    expect(failure.message).toBe(`email step input is invalid: ${field} ${EMAIL_FORM}; ${fault}`);
    expect(attempts).toBe(1);
    expect(smtp.messages).toHaveLength(0);
    expect(await claimed(`${workflowId}/mail`)).toBeUndefined();
  });

  it('refuses a JSON array with one bad address, naming the item', async () => {
    const { handle, workflowId } = await start('recipients-mail', { to: ['a@example.com', 'b@example.net, x@evil.example'], marker: marker() });
    const { failure, attempts } = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true });
    expect(failure.message).toBe(
      'email step input is invalid: to item 1 of the list must be one plain address such as ada@example.com (no display name, list, comment or line break); it holds several addresses',
    );
    expect(attempts).toBe(1);
    expect(smtp.messages).toHaveLength(0);
    expect(await claimed(`${workflowId}/mail`)).toBeUndefined();
  });

  it('refuses a user part that brings its own recipients: "{{ input.user }}@corp.example"', async () => {
    const { handle, workflowId } = await start('recipients-user', { user: 'x@evil.example, y', marker: marker() });
    const { failure, attempts } = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true });
    expect(failure.message).toBe(`email step input is invalid: to ${EMAIL_FORM}; it holds several addresses`);
    expect(attempts).toBe(1);
    expect(smtp.messages).toHaveLength(0);
    expect(await claimed(`${workflowId}/mail`)).toBeUndefined();
  });

  it('sends to each address of a JSON array, and to a templated user part that is one user', async () => {
    const first = marker();
    const listed = await start('recipients-mail', { to: ['a@example.com', 'b@example.net'], cc: ['c@example.org'], replyTo: 'help@example.com', marker: first });
    await listed.handle.result();
    const second = marker();
    const user = await start('recipients-user', { user: 'ada.lovelace', marker: second });
    await user.handle.result();

    const byMarker = (m: string) => smtp.messages.find((mail) => mail.raw.includes(`Subject: Run ${m}`));
    expect(byMarker(first)?.to).toEqual(['a@example.com', 'b@example.net', 'c@example.org']);
    expect(byMarker(first)?.raw).toMatch(/^To: a@example\.com, b@example\.net\r$/m);
    expect(byMarker(first)?.raw).toMatch(/^Reply-To: help@example\.com\r$/m);
    expect(byMarker(second)?.to).toEqual(['ada.lovelace@corp.example']);
  });
});

describe('a templated SMS number or Slack channel', () => {
  it.each([
    ['two numbers', '+14155550123,+14155550124', 'must be one phone number in E.164 form, such as +14155550123; it holds several numbers'],
    ['a number and a line break', '+14155550123\n', 'must be one phone number in E.164 form, such as +14155550123; it holds a line break or another control character'],
  ])('refuses %s', async (_name, phone, problem) => {
    const { handle, workflowId } = await start('recipients-sms', { phone });
    const { failure, attempts } = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true, message: `sms step input is invalid: to ${problem}` });
    expect(attempts).toBe(1);
    expect(twilio.requests).toHaveLength(0);
    expect(await claimed(`${workflowId}/text`)).toBeUndefined();
  });

  it.each([
    ['two channels', '#ops,#security', 'it holds several channels or spaces'],
    ['a channel and a line break', '#ops\r\n#security', 'it holds a line break or another control character'],
  ])('refuses %s', async (_name, channel, fault) => {
    const { handle, workflowId } = await start('recipients-slack', { channel });
    const { failure, attempts } = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'InvalidRecipient', nonRetryable: true });
    expect(failure.message).toMatch(new RegExp(`^slack step input is invalid: channel must be one channel id or name .*; ${fault}$`));
    expect(attempts).toBe(1);
    expect(slack.requests).toHaveLength(0);
    expect(await claimed(`${workflowId}/post`)).toBeUndefined();
  });

  it('posts to one templated channel', async () => {
    const { handle } = await start('recipients-slack', { channel: '#ops' });
    expect(await handle.result()).toBeDefined();
    expect(slack.requests).toHaveLength(1);
    expect(new URLSearchParams(slack.requests[0]!.body).get('channel')).toBe('#ops');
  });
});

describe('a literal list written in a definition', () => {
  it('is refused when saved, pointing to the list form', async () => {
    const res = await h.api('POST', '/api/workflows', {
      key: 'recipients-literal-new',
      name: 'Literal list',
      steps: [{ id: 'mail', type: 'email', to: 'a@example.com, b@example.net', subject: 's', text: 't' }],
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'invalid_definition',
      errors: [{ path: '$.steps[0].to', message: 'must be one plain address; write several as a list: ["a@example.com","b@example.net"]' }],
    });
  });

  it('still sends to each address when a stored version holds one', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'recipients-literal-stored',
      name: 'Stored literal list',
      steps: [{ id: 'mail', type: 'email', to: 'placeholder@example.com', subject: 'Stored list', text: 't' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // As a version saved before lists had to be arrays holds it.
    const document = { ...created.body.definition, steps: [{ id: 'mail', type: 'email', to: 'a@example.com, "Ops" <ops@example.net>', subject: 'Stored list', text: 't' }] };
    await h.db.updateTable('workflow_definition_versions').set({ document: JSON.stringify(document) }).where('definition_id', '=', created.body.id).execute();
    const { handle } = await start(created.body.id as string, {});
    await handle.result();
    expect(smtp.messages.map((m) => m.to)).toEqual([['a@example.com', 'ops@example.net']]);
  });
});
