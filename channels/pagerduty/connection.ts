/** The `pagerduty` connection type: the PagerDuty service events go to, by its integration (routing) key. */
import { defineConnectionType, httpUrl, PACING_SETTINGS, secretText } from '../connection';

export const pagerDutyConnection = defineConnectionType({
  type: 'pagerduty',
  step: 'pagerduty',
  label: 'PagerDuty service',
  settings: {
    /** Where events are sent (a proxy). @default 'https://events.pagerduty.com/v2/enqueue' */
    eventsUrl: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
    ...PACING_SETTINGS,
  },
  secrets: { routingKey: secretText },
  checkable: false,
});
