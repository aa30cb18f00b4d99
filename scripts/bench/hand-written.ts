/**
 * The work of the benchmarks' definitions written by hand directly against
 * Temporal, as baselines: the same activities, in the same order, with the
 * same activity options the interpreter uses by default. A module of its own,
 * so a worker can run them from a bundle without the interpreter, as a
 * hand-written workflow's own worker would (`gateway-load`).
 *
 * Workflow code: deterministic, bundled into Temporal's sandbox. It imports
 * only the workflow SDK, and the activities as a type.
 */
import * as wf from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import { isOutboxResult, isPacedSend } from '../../src/shared/run';
import type { Activities } from '../../workflows/context';
import type * as plainActivities from './plain-activities';

/** The interpreter's defaults: a step's timeout and retry policy when the step names none. */
function stepOptions(defaultStepTimeoutSeconds: number, summary: string): ActivityOptions {
  return {
    startToCloseTimeout: defaultStepTimeoutSeconds * 1000,
    retry: { maximumAttempts: 5, initialInterval: 1000, backoffCoefficient: 2, maximumInterval: 60_000 },
    summary,
  };
}

export interface OrderShippedInput {
  orderId: string;
  customer: { name: string; email: string };
  total: number;
  channel: string;
  defaultStepTimeoutSeconds: number;
}

export interface HandWrittenResult {
  status: 'SUCCESS';
  steps: number;
  vars: Record<string, unknown>;
  output: unknown;
}

/**
 * The five-step definition of the `interpreter` benchmark, by hand: set,
 * condition (a branch setting the tier), email, Slack, set.
 */
export async function handWrittenOrderShipped(input: OrderShippedInput): Promise<HandWrittenResult> {
  const { workflowId } = wf.workflowInfo();
  const vars: Record<string, unknown> = {};
  vars.who = input.customer.name;
  vars.total = input.total;
  vars.tier = input.total > 100 ? 'vip' : 'regular';

  const mail = await wf
    .proxyActivities<Activities>(stepOptions(input.defaultStepTimeoutSeconds, 'mail: send email'))
    .sendEmail({
      deliveryKey: `${workflowId}/mail`,
      to: input.customer.email,
      subject: `Order ${input.orderId} shipped`,
      text: `Hello ${input.customer.name}, total ${input.total} (${String(vars.tier)}).`,
    });
  await wf
    .proxyActivities<Activities>(stepOptions(input.defaultStepTimeoutSeconds, 'notify: post to Slack'))
    .sendSlack({
      deliveryKey: `${workflowId}/notify`,
      channel: input.channel,
      text: `Order ${input.orderId} shipped to ${input.customer.name}`,
    });

  vars.notified = true;
  vars.messageId = isPacedSend(mail) || isOutboxResult(mail) ? null : mail.messageId;
  return { status: 'SUCCESS', steps: 6, vars, output: null };
}

export interface SequentialHttpInput {
  url: string;
  steps: number;
  defaultStepTimeoutSeconds: number;
}

/** The `sequential40` benchmark by hand: one GET after another, each its own activity. */
export async function handWrittenSequentialHttp(input: SequentialHttpInput): Promise<HandWrittenResult> {
  const { workflowId } = wf.workflowInfo();
  let last: unknown = null;
  for (let i = 0; i < input.steps; i += 1) {
    const id = `call${i + 1}`;
    const res = await wf
      .proxyActivities<Activities>(stepOptions(input.defaultStepTimeoutSeconds, `${id}: GET request`))
      .httpRequest({ deliveryKey: `${workflowId}/${id}`, url: `${input.url}?step=${i + 1}`, method: 'GET' });
    last = res.status;
  }
  return { status: 'SUCCESS', steps: input.steps, vars: {}, output: last };
}

/**
 * The same GETs as a workflow's author would write them with no product at
 * all (`gateway-load`'s plain baseline): an activity of their own
 * (plain-activities.ts), no summaries, Temporal's default retry policy.
 */
export async function plainSequentialHttp(url: string, steps: number): Promise<number> {
  const { plainGet } = wf.proxyActivities<typeof plainActivities>({ startToCloseTimeout: '30 seconds' });
  let last = 0;
  for (let i = 0; i < steps; i += 1) last = await plainGet(`${url}?step=${i + 1}`);
  return last;
}
