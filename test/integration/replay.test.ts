/**
 * Determinism guard. Fresh runs of representative definitions must replay on
 * the current workflow code without a DeterminismViolationError, on the dev
 * server and on the real one. Their histories, recorded, are what
 * replay-histories.test.ts replays for every later version.
 *
 * To record new histories after an intended interpreter change (guarded by
 * `patched()`), run `RECORD_HISTORIES=1 npx vitest run --project integration
 * test/integration/replay.test.ts`: the fresh histories are written to
 * test/histories/ next to the old ones, which stay, since runs started on the
 * old code may still be open.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpSink, type SmtpSink, slackApiReply, startHttpSink, startSmtpSink, twilioMessagesReply } from '../../scripts/lib/sinks';
import { createHarness, type Harness } from '../support/harness';
import { HISTORIES, HISTORY_PREFIX, replayHistories } from '../support/replay';


/** Definitions that together exercise every step type and outcome. */
const REPRESENTATIVE: Record<string, { definition: Record<string, unknown>; triggerData: Record<string, unknown> }> = {
  'every-step': {
    definition: {
      key: 'replay-every-step',
      name: 'Replay: every step',
      steps: [
        { id: 'compute', type: 'set', values: { total: '{{ $sum(input.items) }}' } },
        {
          id: 'branch',
          type: 'condition',
          condition: 'vars.total > 10',
          then: [{ id: 'big', type: 'slack', channel: '#ops', text: 'big order {{ vars.total }}' }],
          else: [{ id: 'small', type: 'set', values: { small: true } }],
        },
        { id: 'mail', type: 'email', to: '{{ input.email }}', subject: 'Total', text: 'Total: {{ vars.total }}' },
        { id: 'pause', type: 'delay', duration: '100ms' },
        { id: 'guarded', type: 'slack', channel: '#ops', text: 'never', if: 'false' },
      ],
    },
    triggerData: { items: [4, 9], email: 'replay@example.test' },
  },
  'control-flow': {
    definition: {
      key: 'replay-control-flow',
      name: 'Replay: control flow',
      steps: [
        {
          id: 'route',
          type: 'switch',
          value: 'input.kind',
          cases: [{ equals: 'a', steps: [{ id: 'isA', type: 'set', values: { kind: 'a' } }] }],
          default: [{ id: 'other', type: 'set', values: { kind: 'other' } }],
        },
        {
          id: 'fan',
          type: 'parallel',
          branches: [[{ id: 'left', type: 'delay', duration: '50ms' }], [{ id: 'right', type: 'set', values: { right: true } }]],
        },
        {
          id: 'each',
          type: 'foreach',
          items: 'input.items',
          maxItems: 10,
          concurrency: 2,
          steps: [{ id: 'double', type: 'set', values: { last: '{{ loop.item * 2 }}' } }],
        },
        { id: 'ask', type: 'wait_for_signal', signal: 'approval', timeout: '100ms', onTimeout: [{ id: 'late', type: 'set', values: { late: true } }] },
        { id: 'oops', type: 'fail', message: 'ignored', onError: 'continue' },
        { id: 'done', type: 'succeed', output: { kind: '{{ vars.kind }}' } },
      ],
    },
    triggerData: { kind: 'a', items: [1, 2, 3] },
  },
  'approval-timeout': {
    definition: {
      key: 'replay-approval',
      name: 'Replay: approval decided at its timeout',
      steps: [
        {
          id: 'review',
          type: 'approval',
          approvers: ['alice'],
          escalation: [{ after: '50ms', steps: [{ id: 'remind', type: 'set', values: { reminded: true } }] }],
          timeout: '150ms',
          onTimeout: 'approve',
        },
      ],
    },
    triggerData: {},
  },
  'failed-step': {
    definition: {
      key: 'replay-failed-step',
      name: 'Replay: failed step',
      steps: [
        { id: 'prepare', type: 'set', values: { to: '{{ input.email }}' } },
        { id: 'mail', type: 'email', to: '{{ vars.to }}', subject: 's', text: 't', retry: { maximumAttempts: 1 } },
      ],
    },
    triggerData: { email: 'rejected@example.test' },
  },
  'long-run': {
    definition: {
      key: 'replay-long-run',
      name: 'Replay: continues as new',
      steps: [
        { id: 'start', type: 'set', values: { n: 0 } },
        ...Array.from({ length: 8 }, (_, i) => [
          { id: `wait${i}`, type: 'delay', duration: '1ms' },
          { id: `count${i}`, type: 'set', values: { n: '{{ vars.n + 1 }}' } },
        ]).flat(),
        { id: 'end', type: 'set', values: { first: '{{ steps.start.output.n }}' } },
      ],
    },
    triggerData: {},
  },
  'pure-loop': {
    definition: {
      key: 'replay-pure-loop',
      name: 'Replay: a loop that never waits, paused every 100 iterations',
      steps: [
        { id: 'zero', type: 'set', values: { total: 0 } },
        {
          id: 'sum',
          type: 'foreach',
          items: '[1..120]',
          maxItems: 120,
          concurrency: 2,
          steps: [{ id: 'add', type: 'set', values: { total: '{{ vars.total + loop.item }}' } }],
        },
      ],
    },
    triggerData: {},
  },
  'quiet-and-paced': {
    // Read when the run is created, not when this file loads (the harness starts in between): the
    // window must still be open when the run reaches the step, or its history has no quiet-hours timer.
    get definition() {
      return {
        key: 'replay-quiet-and-paced',
        name: 'Replay: quiet hours and channel pacing',
        steps: [
          {
            id: 'first',
            type: 'sms',
            to: '+14155550301',
            body: 'one',
            // A quiet window that ends five seconds after the run is created.
            quietHours: { start: utcTime(-3_600_000), end: utcTime(5_000), timeZone: '{{ input.zone }}' },
          },
          { id: 'second', type: 'sms', to: '+14155550302', body: 'two' },
        ],
      };
    },
    triggerData: { zone: 'UTC' },
  },
  // Two lanes, one rendering a plain path: which lane schedules its delivery first depends on how
  // many turns that evaluation takes, so its history (recorded before plain paths skipped JSONata)
  // fails to replay if the `lean-runs-2026-11` patch is taken away.
  'parallel-paths': {
    definition: {
      key: 'replay-parallel-paths',
      name: 'Replay: parallel lanes and plain paths',
      steps: [
        {
          id: 'lanes',
          type: 'parallel',
          branches: [
            [{ id: 'chat', type: 'slack', channel: '#ops', text: '{{ input.contact.primary.address.name }}' }],
            [{ id: 'mail', type: 'email', to: 'lanes@example.test', subject: 'lane two', text: 'lane two' }],
          ],
        },
      ],
    },
    triggerData: { contact: { primary: { address: { name: 'lanes' } } } },
  },
  // An expression past the workflow thread's budget of one expression (200 steps for runs that
  // record it): evaluated again by the activity `evaluateExpression` (a local one in histories
  // recorded before the `expressions-as-activity-2026-12` patch), whose result the history keeps.
  // Its history fails to replay if the budget, where the fallback happens, or the kind of activity moves.
  'expression-outside': {
    definition: {
      key: 'replay-expression-outside',
      name: "Replay: an expression past the workflow thread's budget",
      steps: [
        { id: 'totals', type: 'set', values: { totals: '{{ input.items.(qty * price) }}' } },
        { id: 'sum', type: 'set', values: { sum: '{{ $sum(vars.totals) }}' } },
      ],
    },
    triggerData: { items: Array.from({ length: 50 }, (_, i) => ({ qty: (i % 5) + 1, price: 2 })) },
  },
  // An expression that defines a function, heavy by its shape: 50 steps in the workflow thread
  // for runs that record `heavyExpressionStepsInWorkflow` (this one takes about 88 over 10 items,
  // within the 200 of any other expression), then the activity `evaluateExpression`. Its history
  // fails to replay if what counts as heavy, or its budget, moves.
  'heavy-shape': {
    definition: {
      key: 'replay-heavy-shape',
      name: 'Replay: an expression that defines a function',
      steps: [{ id: 'total', type: 'set', values: { total: '{{ $sum($map(input.items, function($i){ $i.qty * $i.price })) }}' } }],
    },
    triggerData: { items: Array.from({ length: 10 }, (_, i) => ({ qty: (i % 5) + 1, price: 2 })) },
  },
  // Expressions that each fit the budget of one expression but together pass their workflow
  // task's (24 × about 125 steps against 2,500): the run lets its task end (a 1 ms timer) and
  // evaluates the next one in the task after it. Its history fails to replay if where the
  // task's budget runs out, or what the run does then, moves.
  'task-budget': {
    definition: {
      key: 'replay-task-budget',
      name: "Replay: expressions past their workflow task's budget together",
      steps: [
        {
          id: 'sums',
          type: 'set',
          values: Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`sum${i}`, '{{ $sum(input.items.(qty * price)) }}'])),
        },
      ],
    },
    triggerData: { items: Array.from({ length: 20 }, (_, i) => ({ qty: (i % 5) + 1, price: 2 })) },
  },
  // Reads sent as local activities (runs that record `localReads`): one that answers, one that
  // fails and goes again as an ordinary activity, then the run's later read as an ordinary one
  // too. Its history fails to replay if which steps go local, or when a run stops, moves.
  'local-reads': {
    get definition() {
      return {
        key: 'replay-local-reads',
        name: 'Replay: reads as local activities',
        steps: [
          { id: 'read', type: 'http', url: `${web.url}/ok` },
          { id: 'write', type: 'http', method: 'POST', url: `${web.url}/ok`, body: { n: 1 } },
          { id: 'missing', type: 'http', url: `${web.url}/missing`, retry: { maximumAttempts: 1 }, onError: 'continue' },
          { id: 'again', type: 'http', method: 'HEAD', url: `${web.url}/ok` },
        ],
      };
    },
    triggerData: {},
  },
};

/** The UTC time of day `offsetMs` from now, as HH:MM:SS. */
function utcTime(offsetMs: number): string {
  return new Date(Date.now() + offsetMs).toISOString().slice(11, 19);
}

let h: Harness;
let smtp: SmtpSink;
let slack: HttpSink;
let twilio: HttpSink;
let web: HttpSink;
const fresh = new Map<string, unknown>();

beforeAll(async () => {
  [smtp, slack, twilio, web] = await Promise.all([startSmtpSink(), startHttpSink(), startHttpSink(), startHttpSink()]);
  slack.respond = slackApiReply;
  web.respond = (req) => (req.path === '/missing' ? { status: 404, body: { error: 'no such thing' } } : { status: 200, body: { ok: true } });
  twilio.respond = twilioMessagesReply;
  smtp.rejectRecipients.add('rejected@example.test');
  h = await createHarness({
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'replay@example.test',
      SLACK_BOT_TOKEN: 'xoxb-replay',
      SLACK_API_URL: `${slack.url}/api/`,
      TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000001',
      TWILIO_AUTH_TOKEN: 'twilio-replay',
      TWILIO_PHONE_NUMBER: '+14155550100',
      TWILIO_API_URL: twilio.url,
      // One SMS a second: the second message of a run waits for its slot.
      PACING_SMS_PER_MINUTE: '60',
      HTTP_ALLOWED_HOSTS: '127.0.0.1',
      // Low, so a representative run continues as new.
      WORKFLOW_CONTINUE_AS_NEW_EVENTS: '50',
    },
  });
  // All at once: each run is independent of the others (its own definition and channel).
  const histories = await Promise.all(
    Object.entries(REPRESENTATIVE).map(async ([name, { definition, triggerData }]) => {
      const created = await h.api('POST', '/api/workflows', definition);
      const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData });
      await h.client.workflow
        .getHandle(started.body.workflowId)
        .result()
        .catch(() => undefined);
      // The first run's history: for a run that continued as new, the one that did.
      const handle = h.client.workflow.getHandle(started.body.workflowId, started.body.runId);
      return [name, JSON.parse(JSON.stringify(await handle.fetchHistory()))] as const;
    }),
  );
  for (const [name, history] of histories) fresh.set(name, history);
  if (process.env.RECORD_HISTORIES) {
    const existing = new Set(await readdir(HISTORIES));
    for (const [name, history] of fresh) {
      // Never overwrite: older histories stand for runs that may still be open.
      const base = `${HISTORY_PREFIX}${name}-${new Date().toISOString().slice(0, 10)}`;
      let file = `${base}.json`;
      for (let n = 2; existing.has(file); n += 1) file = `${base}-${n}.json`;
      // Stack traces in failures name this checkout's paths: keep machine paths out of the repository.
      const text = JSON.stringify(history, null, 1).replaceAll(process.cwd(), '/app');
      await writeFile(join(HISTORIES, file), `${text}\n`);
    }
  }
});

afterAll(async () => {
  await h?.close();
  await Promise.all([smtp?.close(), slack?.close(), twilio?.close(), web?.close()]);
});

describe('determinism', () => {
  it('replays fresh runs of the representative definitions', async () => {
    const results = await replayHistories([...fresh].map(([workflowId, history]) => ({ workflowId, history })));
    expect(results.map((r) => r.error)).toEqual([...fresh.keys()].map(() => undefined));
  });
});
