/** The `twilio` connection type: the Twilio account and sender an `sms` step sends from. */
import { z } from 'zod';
import { defineConnectionType, httpUrl, PACING_SETTINGS, secretText } from '../connection';

export const twilioConnection = defineConnectionType({
  type: 'twilio',
  step: 'sms',
  label: 'Twilio account',
  settings: {
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be a Twilio account SID (AC and 32 hex digits)').meta({ description: 'the account SID, AC and 32 hex digits' }),
    phoneNumber: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +14155550100')
      .meta({ description: 'the number messages are sent from (E.164), or give messagingServiceSid', examples: ['+14155550100'] })
      .optional(),
    messagingServiceSid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'must be a messaging service SID (MG and 32 hex digits)')
      .meta({ description: 'a messaging service to send through instead of one number' })
      .optional(),
    apiUrl: httpUrl.meta({ description: "a base URL replacing Twilio's API hosts, for a proxy; left out: Twilio's own" }).optional(),
    ...PACING_SETTINGS,
  },
  secrets: { authToken: secretText.meta({ description: "the account's auth token" }) },
  check: (fields) =>
    fields.phoneNumber === undefined && fields.messagingServiceSid === undefined ? [{ field: 'phoneNumber', message: 'is required, or messagingServiceSid' }] : [],
  checkable: true,
});
