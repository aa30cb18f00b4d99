/**
 * Slack Block Kit messages and thread replies through real protocols: the
 * Web API client against a loopback peer answering like `chat.postMessage`,
 * and an incoming-webhook peer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { type HttpSink, type RecordedRequest, slackApiReply, startHttpSink } from '../../scripts/lib/sinks';
import { createHarness, type Harness } from '../support/harness';

const BOT_TOKEN = 'xoxb-secret-blocks-5e21';
let h: Harness;
let api: HttpSink;
let hook: HttpSink;
/** The `ts` of each message the API peer accepted, in order. */
let answered: string[];

beforeAll(async () => {
  [api, hook] = await Promise.all([startHttpSink(), startHttpSink()]);
  h = await createHarness({
    env: { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: `${api.url}/api/`, SLACK_WEBHOOK_URL: `${hook.url}/services/T0/B0/hook` },
  });
});

beforeEach(() => {
  answered = [];
  api.requests.length = 0;
  hook.requests.length = 0;
  api.respond = (req) => {
    const reply = slackApiReply(req);
    answered.push((reply.body as { ts: string }).ts);
    return reply;
  };
  hook.respond = () => ({ status: 200, body: 'ok' });
});

afterAll(async () => {
  await h?.close();
  await Promise.all([api?.close(), hook?.close()]);
});

/** What the Web API client put in the form body: `blocks` arrives as JSON text, as Slack expects. */
function form(req: RecordedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(req.body));
}

describe('slack blocks and threads in a run', () => {
  it('replies in the first message thread and delivers blocks intact over the Web API and the webhook', async () => {
    const created = await h.api('POST', '/api/workflows', {
      key: 'deploy-thread',
      name: 'Deploy thread',
      steps: [
        {
          id: 'first',
          type: 'slack',
          channel: '#deploys',
          text: 'Deploy {{ input.version }} started',
          blocks: [
            { type: 'header', text: { type: 'plain_text', text: 'Deploy {{ input.version }}' } },
            { type: 'section', fields: [{ type: 'mrkdwn', text: '*By:* {{ input.by }}' }, { type: 'mrkdwn', text: '*Env:* prod' }] },
            { type: 'divider' },
          ],
        },
        { id: 'reply', type: 'slack', channel: '#deploys', text: 'Deploy {{ input.version }} finished', threadTs: '{{ steps.first.output.ts }}' },
        {
          id: 'announce',
          type: 'slack',
          text: 'Released {{ input.version }}',
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':rocket: *{{ input.version }}* is live' } }],
        },
        { id: 'after', type: 'set', values: { firstTs: '{{ steps.first.output.ts }}', replyTs: '{{ steps.reply.output.ts }}' } },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData: { version: 'v2.4.0', by: 'grace' } });
    const handle = h.client.workflow.getHandle(started.body.workflowId);
    const result = await handle.result();

    expect(api.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.postMessage']);
    const [first, reply] = api.requests.map(form) as [Record<string, string>, Record<string, string>];
    expect(first).toMatchObject({ channel: '#deploys', text: 'Deploy v2.4.0 started' });
    expect(first.thread_ts).toBeUndefined();
    expect(JSON.parse(first.blocks ?? 'null')).toEqual([
      { type: 'header', text: { type: 'plain_text', text: 'Deploy v2.4.0' } },
      { type: 'section', fields: [{ type: 'mrkdwn', text: '*By:* grace' }, { type: 'mrkdwn', text: '*Env:* prod' }] },
      { type: 'divider' },
    ]);
    // The reply names the first message's ts exactly as the API answered it.
    expect(reply).toMatchObject({ channel: '#deploys', text: 'Deploy v2.4.0 finished', thread_ts: answered[0] });
    expect(reply.blocks).toBeUndefined();
    expect(result.vars).toEqual({ firstTs: answered[0], replyTs: answered[1] });
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);

    // A step without a channel posts to the webhook, blocks included.
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]!.json).toEqual({
      text: 'Released v2.4.0',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':rocket: *v2.4.0* is live' } }],
    });

    const history = JSON.stringify(await handle.fetchHistory(), (k, v: unknown) =>
      k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(history).toContain('Deploy v2.4.0 finished');
    expect(history).not.toContain(BOT_TOKEN);
  });

  it('refuses a definition whose blocks are not a list of objects', async () => {
    const res = await h.api('POST', '/api/workflows/validate', {
      key: 'bad-blocks',
      name: 'Bad blocks',
      steps: [{ id: 's', type: 'slack', channel: '#x', text: 't', blocks: 'a section' }],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['$.steps[0].blocks']);
  });
});

describe('the sendSlack activity', () => {
  const key = () => `wf-${randomUUID()}/slack`;

  it('refuses a thread ts that is not a Slack message ts, and a blocks value that is no list, before calling Slack', async () => {
    const activities = createActivities({ config: h.config, db: h.db });
    await expect(activities.sendSlack({ deliveryKey: key(), channel: 'C1', text: 't', threadTs: 'yesterday' })).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: expect.stringMatching(/threadTs must be a Slack message ts/),
    });
    await expect(activities.sendSlack({ deliveryKey: key(), channel: 'C1', text: 't', blocks: { type: 'divider' } })).rejects.toMatchObject({
      type: 'ProviderRejected',
      message: expect.stringMatching(/blocks/),
    });
    expect(api.requests).toHaveLength(0);
  });

  it('fails for good when Slack refuses the blocks', async () => {
    api.respond = () => ({ status: 200, body: { ok: false, error: 'invalid_blocks' } });
    const activities = createActivities({ config: h.config, db: h.db });
    await expect(
      activities.sendSlack({ deliveryKey: key(), channel: 'C1', text: 't', blocks: [{ type: 'no-such-block' }] }),
    ).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: 'Slack refused the message: invalid_blocks' });
    expect(JSON.parse(form(api.requests[0]!).blocks ?? 'null')).toEqual([{ type: 'no-such-block' }]);
  });
});
