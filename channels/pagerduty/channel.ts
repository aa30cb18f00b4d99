/**
 * The `pagerduty` step: an event to PagerDuty's Events API v2 that triggers,
 * acknowledges or resolves an incident.
 */
import { defineChannel } from '../channel';
import type { PagerDutyFields } from './schema';

export const pagerDutyChannel = defineChannel({
  type: 'pagerduty',
  label: 'PagerDuty',
  activity: 'sendPagerDuty',
  summary: 'send a PagerDuty event',
  message: (step: PagerDutyFields) => ({
    action: step.action,
    dedupKey: step.dedupKey,
    summary: step.summary,
    source: step.source,
    severity: step.severity,
    customDetails: step.customDetails,
  }),
});
