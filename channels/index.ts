/**
 * The registry of notification channels, workflow side: one line per channel.
 * From it follow the message steps of the definition language (and so the
 * OpenAPI document), their handler in the interpreter, the pacing settings and
 * the outbox's channels; channels/senders.ts is its Node-side twin.
 * Workflow-safe: the workflow bundle and src/shared/ import it.
 */
import { emailChannel } from './email/channel';
import { pagerDutyChannel } from './pagerduty/channel';
import { slackChannel } from './slack/channel';
import { smsChannel } from './sms/channel';
import { teamsChannel } from './teams/channel';

/** Each channel by its step type, in the order the language lists them. */
export const CHANNELS = {
  email: emailChannel,
  slack: slackChannel,
  sms: smsChannel,
  teams: teamsChannel,
  pagerduty: pagerDutyChannel,
} as const;

export type Channels = typeof CHANNELS;
export type ChannelType = keyof Channels;
/** The name of a channel's send activity, e.g. `sendTeams`. */
export type ChannelActivity = Channels[ChannelType]['activity'];

export const CHANNEL_TYPES = Object.keys(CHANNELS) as ChannelType[];

export function isChannelType(type: string): type is ChannelType {
  return Object.hasOwn(CHANNELS, type);
}
