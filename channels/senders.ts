/**
 * The registry of notification channels, Node side: one line per channel, its
 * sender's factory. `createChannelActivities` makes each channel's send
 * activity under the name its declaration gives (channels/index.ts), taking
 * the channel's next pacing slot first.
 */
import { type ChannelSettings, retryAuthFailureOfConnection } from '../activities/connections';
import type { Ledger } from '../activities/delivery';
import type { Outbox } from '../activities/outbox';
import { type Pacer, paced } from '../activities/pacing';
import type { Config } from '../src/config';
import type { PacedSend } from '../src/shared/run';
import { CHANNELS, type Channels, type ChannelType } from '.';
import { createEmailSender } from './email/sender';
import { createPagerDutySender } from './pagerduty/sender';
import { createSlackSender } from './slack/sender';
import { createSmsSender } from './sms/sender';
import { createTeamsSender } from './teams/sender';

// `any`: each sender takes its own input, typed in ChannelActivities below.
type Send = (input: any) => Promise<unknown>;

/**
 * Each channel's sender, built from the configuration, the delivery ledger,
 * the dev outbox and its settings for each send (the environment's, or a
 * named connection's).
 */
const SENDERS = {
  email: createEmailSender,
  slack: createSlackSender,
  sms: createSmsSender,
  teams: createTeamsSender,
  pagerduty: createPagerDutySender,
} satisfies { [K in ChannelType]: (config: Config, ledger: Ledger, outbox: Outbox, settings: ChannelSettings) => Send };

type Senders = typeof SENDERS;

/** A send that may answer "not yet" with its pacing slot. */
type Paced<F> = F extends (input: infer I) => Promise<infer R> ? (input: I) => Promise<R | PacedSend> : never;

/** The send activities, by name: `sendEmail`, `sendTeams`, … */
export type ChannelActivities = {
  [K in ChannelType as Channels[K]['activity']]: Paced<ReturnType<Senders[K]>>;
};

export function createChannelActivities(config: Config, ledger: Ledger, outbox: Outbox, pacer: Pacer, settings: ChannelSettings): ChannelActivities {
  const activities: Record<string, Send> = {};
  for (const type of Object.keys(SENDERS) as ChannelType[]) {
    const send = SENDERS[type](config, ledger, outbox, settings) as Send;
    const sendThroughConnection: Send = (input: { connection?: string }) =>
      send(input).catch((err: unknown) => {
        throw retryAuthFailureOfConnection(err, input.connection);
      });
    // Sends take their channel's next slot first (PACING_<CHANNEL>_PER_MINUTE).
    activities[CHANNELS[type].activity] = paced(pacer, type, sendThroughConnection);
  }
  return activities as ChannelActivities;
}
