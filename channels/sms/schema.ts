/** The `sms` step's fields; its activity's input (./sender.ts) is made of them. */
import { z } from 'zod';
import type { ChannelSchema, StepFields } from '../schema';

export const smsFields = {
  /** E.164 phone number, e.g. +14155550123 (checked when the step runs, after templating). */
  to: z.string().min(1),
  body: z.string().min(1).max(1600),
};

export const smsSchema = { fields: smsFields } satisfies ChannelSchema<typeof smsFields>;
export type SmsFields = StepFields<typeof smsFields>;
