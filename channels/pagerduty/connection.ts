/** The `pagerduty` connection type: the PagerDuty service events go to, by its integration (routing) key. */
import { defineConnectionType, httpUrl, PACING_SETTINGS, secretText } from '../connection';

export const pagerDutyConnection = defineConnectionType({
  type: 'pagerduty',
  step: 'pagerduty',
  label: 'PagerDuty service',
  settings: {
    eventsUrl: httpUrl.meta({ description: "where events are sent: PagerDuty's Events API v2, or a proxy before it" }).default('https://events.pagerduty.com/v2/enqueue'),
    ...PACING_SETTINGS,
  },
  secrets: { routingKey: secretText.meta({ description: "the service's integration key (Events API v2)" }) },
  checkable: false,
});
