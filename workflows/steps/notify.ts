/**
 * The step of every notification channel (channels/index.ts), one handler for
 * all: render the fields the channel names, wait out the recipient's quiet
 * hours, then send, waiting for the channel's pacing slot when the activity
 * answers with one. Both waits are durable timers, shown in the run's state
 * and named in the Temporal UI.
 */
import * as wf from '@temporalio/workflow';
import type { AnyChannel } from '../../channels/channel';
import type { ChannelStep } from '../../src/shared/definition';
import { quietHoursEnd } from '../../src/shared/quiet-hours';
import { ERROR_TYPES, isPacedSend, type PacedSend } from '../../src/shared/run';
import type { Ports, StepHandler } from './types';

/** What a channel's step uses of the run. */
export type MessagePorts = Ports<'renderFields' | 'activities' | 'activityOptions' | 'deliveryKey'> & DeliveryPorts;

/** What a delivery's waits use of the run: mirror writes, timers, the quiet hours' time zone rendered. */
export type DeliveryPorts = Ports<'flushIfBehind' | 'holdUntil' | 'render'>;

/**
 * The handler of a channel's step: its rendered message, the delivery key and
 * the step's delivery policy, then what the channel adds, go to its send
 * activity. (The order of the awaits here is the order of commands in
 * recorded histories: keep it.)
 */
export function messageHandler(channel: AnyChannel): StepHandler<ChannelStep, MessagePorts> {
  return async (step, path, ctx) => {
    const rendering = ctx.renderFields(channel.message(step), step);
    const rendered = rendering instanceof Promise ? await rendering : rendering;
    return deliver(step, path, ctx, () => {
      const activities = ctx.activities(ctx.activityOptions(step, channel.summary)) as unknown as Record<string, (input: unknown) => Promise<unknown>>;
      return activities[channel.activity]!({
        deliveryKey: ctx.deliveryKey(path),
        ...rendered,
        delivery: step.delivery,
        // Only the connection's name enters the run; the sender opens it at send time.
        ...(step.connection ? { connection: step.connection } : {}),
        ...channel.extra?.(step),
      });
    });
  };
}

/** Rounds of "not yet" from the pacer before the step gives up; each is a timer to a slot the pacer gave. */
const MAX_PACING_ROUNDS = 20;

export async function deliver<R>(step: ChannelStep, path: string, ctx: DeliveryPorts, send: () => Promise<R | PacedSend>): Promise<R> {
  if (step.quietHours) await waitOutQuietHours(step, path, ctx);
  for (let round = 1; ; round++) {
    const flushing = ctx.flushIfBehind();
    if (flushing) await flushing;
    const result = await send();
    if (!isPacedSend(result)) return result;
    if (round > MAX_PACING_ROUNDS) {
      throw wf.ApplicationFailure.create({
        type: ERROR_TYPES.PacingStalled,
        message: `step "${step.id}": no ${result.channel} send slot after ${MAX_PACING_ROUNDS} waits`,
        nonRetryable: true,
      });
    }
    // A second "not yet" means the worker's and the database's clocks differ: wait at least a second, not spin.
    const until = round === 1 ? Date.parse(result.notBefore) : Math.max(Date.parse(result.notBefore), Date.now() + 1000);
    await ctx.holdUntil(path, step, until, result.reason ?? `${result.channel} pacing`);
  }
}

async function waitOutQuietHours(step: ChannelStep, path: string, ctx: DeliveryPorts): Promise<void> {
  const quiet = step.quietHours!;
  const timeZone = await ctx.render(quiet.timeZone, step);
  let end: number | undefined;
  try {
    end = quietHoursEnd(Date.now(), { ...quiet, timeZone: String(timeZone) });
  } catch {
    throw wf.ApplicationFailure.create({
      type: ERROR_TYPES.InvalidTimeZone,
      message: `step "${step.id}": quietHours.timeZone ${JSON.stringify(timeZone)} is not an IANA time zone such as Europe/Berlin`,
      nonRetryable: true,
    });
  }
  if (end !== undefined) await ctx.holdUntil(path, step, end, `quiet hours (${quiet.start}–${quiet.end} ${String(timeZone)})`);
}
