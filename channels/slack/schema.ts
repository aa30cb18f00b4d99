/** The `slack` step's fields; its activity's input (./sender.ts) is made of them. */
import { z } from 'zod';
import type { ChannelSchema, StepFields } from '../schema';

export const slackFields = {
  /** Channel id or name; without it the configured incoming webhook is used. */
  channel: z.string().min(1).optional(),
  /** Always required: the notification and fallback text, also when `blocks` lay out the message. */
  text: z.string().min(1).max(40_000),
  /** Block Kit blocks, passed to Slack as written (templates inside are rendered). */
  blocks: z.array(z.record(z.string(), z.unknown())).min(1).max(50).optional(),
  /** Reply in the thread of this message, e.g. `{{ steps.first.output.ts }}`. */
  threadTs: z.string().min(1).optional(),
};

export const slackSchema = { fields: slackFields } satisfies ChannelSchema<typeof slackFields>;
export type SlackFields = StepFields<typeof slackFields>;

/** A rendered `threadTs` must be a message's ts, which only Slack's own format tells apart. */
export const slackThreadTsInput = z.string().regex(/^\d+(\.\d+)?$/, 'must be a Slack message ts such as 1732544123.004500');
