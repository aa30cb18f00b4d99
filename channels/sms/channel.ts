/** The `sms` step: one text message through Twilio. */
import { defineChannel } from '../channel';
import type { SmsFields } from './schema';

export const smsChannel = defineChannel({
  type: 'sms',
  label: 'SMS',
  activity: 'sendSms',
  summary: 'send SMS',
  message: (step: SmsFields) => ({ to: step.to, body: step.body }),
});
