/** The `teams` step's fields, and its activity's input made of them. */
import { z } from 'zod';
import { type ChannelSchema, messageInput, type StepFields } from '../schema';

const fields = {
  title: z.string().min(1).max(400).optional(),
  text: z.string().min(1).max(20_000),
  /** An Adaptive Card `body` array, replacing the title-and-text layout. */
  card: z.array(z.record(z.string(), z.unknown())).max(100).optional(),
};

export const teamsSchema = { fields } satisfies ChannelSchema<typeof fields>;
export type TeamsFields = StepFields<typeof fields>;

export const sendTeamsInput = messageInput(fields);
