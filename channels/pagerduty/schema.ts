/**
 * The `pagerduty` step's fields: an event for PagerDuty's Events API v2 that
 * opens (`trigger`), acknowledges or resolves an incident, which the dedup key
 * names. Its activity's input is made of the same fields, checked again once
 * templates are rendered.
 */
import { z } from 'zod';
import { type ChannelSchema, messageInput, type StepFields } from '../schema';

export const PAGERDUTY_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;
export const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;

/** The fields only a trigger takes: what the incident says. */
const TRIGGER_FIELDS = ['summary', 'source', 'severity', 'customDetails'] as const;

const fields = {
  action: z.enum(PAGERDUTY_ACTIONS),
  /** Names the incident: a trigger with a key already open adds to it; acknowledge and resolve need it. */
  dedupKey: z.string().min(1).max(255).optional(),
  /** The incident's title, as PagerDuty shows it (at most 1024 characters). */
  summary: z.string().min(1).max(1024).optional(),
  /** What is affected, e.g. a host or a service. */
  source: z.string().min(1).max(255).optional(),
  severity: z.enum(PAGERDUTY_SEVERITIES).optional(),
  /** Anything more, shown with the incident (templates inside are rendered). */
  customDetails: z.record(z.string(), z.unknown()).optional(),
};

type PagerDutyEvent = StepFields<typeof fields>;

/** What an event must hold for its action: as written in the step, and again as rendered. */
function checkEvent(event: PagerDutyEvent, ctx: z.RefinementCtx): void {
  if (event.action === 'trigger') {
    for (const field of ['summary', 'source', 'severity'] as const) {
      if (event[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a trigger needs ${field}` });
    }
    return;
  }
  if (event.dedupKey === undefined) {
    ctx.addIssue({ code: 'custom', path: ['dedupKey'], message: `${event.action} needs the dedupKey of the incident` });
  }
  for (const field of TRIGGER_FIELDS) {
    if (event[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} applies to a trigger only` });
  }
}

export const pagerDutySchema = { fields, check: checkEvent } satisfies ChannelSchema<typeof fields>;
export type PagerDutyFields = PagerDutyEvent;

export const sendPagerDutyInput = messageInput(fields).superRefine(checkEvent);
