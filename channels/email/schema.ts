/** The `email` step's fields; its activity's input (./sender.ts) is made of them. */
import { z } from 'zod';
import { recipients, secretHeadersSchema } from '../../src/shared/step-fields';
import type { ChannelSchema, StepFields } from '../schema';

/** Largest number of attachments on one email step. */
export const EMAIL_MAX_ATTACHMENTS = 20;

/**
 * A file attached to an email: fetched from `url` when the step runs (through
 * the same address guard as `http` steps), or given as `content`: text, or
 * base64 with `encoding: 'base64'`.
 */
export const emailAttachmentSchema = z
  .object({
    filename: z.string().min(1).max(255),
    /** e.g. `application/pdf`; by default the answer's content type, or guessed from the file name. */
    contentType: z.string().min(1).max(255).optional(),
    url: z.string().min(1).optional(),
    content: z.string().optional(),
    /** @default 'text' */
    encoding: z.enum(['text', 'base64']).optional(),
    /** Headers sent when fetching `url`, by the name of a configured secret, as on `http` steps. */
    secretHeaders: secretHeadersSchema.optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if ((a.url === undefined) === (a.content === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'an attachment needs either url or content, not both' });
    }
    if (a.encoding !== undefined && a.content === undefined) {
      ctx.addIssue({ code: 'custom', path: ['encoding'], message: 'encoding applies to content only' });
    }
    if (a.secretHeaders !== undefined && a.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secretHeaders'], message: 'secretHeaders apply to an attachment fetched from url only' });
    }
  });

export const emailFields = {
  to: recipients,
  cc: recipients.optional(),
  bcc: recipients.optional(),
  replyTo: recipients.optional(),
  subject: z.string().min(1).max(998),
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z.array(emailAttachmentSchema).max(EMAIL_MAX_ATTACHMENTS).optional(),
};

export const emailSchema = {
  fields: emailFields,
  check: (step, ctx) => {
    if (step.text === undefined && step.html === undefined) ctx.addIssue({ code: 'custom', message: 'an email step needs text or html', path: ['text'] });
  },
} satisfies ChannelSchema<typeof emailFields>;
export type EmailFields = StepFields<typeof emailFields>;
