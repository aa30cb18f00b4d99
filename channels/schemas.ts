/**
 * The registry of the notification channels' step schemas: one line per
 * channel, in the registry's order (channels/index.ts). The definition
 * language makes each channel's step of it (src/shared/definition.ts), and
 * the OpenAPI document follows. Workflow-safe, but kept out of the workflow
 * bundle with the rest of the definition's zod schemas.
 */
import type { ChannelType } from '.';
import { emailSchema } from './email/schema';
import { pagerDutySchema } from './pagerduty/schema';
import type { AnyChannelSchema } from './schema';
import { slackSchema } from './slack/schema';
import { smsSchema } from './sms/schema';
import { teamsSchema } from './teams/schema';

export const CHANNEL_SCHEMAS = {
  email: emailSchema,
  slack: slackSchema,
  sms: smsSchema,
  teams: teamsSchema,
  pagerduty: pagerDutySchema,
} as const satisfies { [K in ChannelType]: AnyChannelSchema };

export type ChannelSchemas = typeof CHANNEL_SCHEMAS;
