/** The `slack` connection type: a bot token (posts to any channel it is in) or an incoming webhook (one channel). */
import { defineConnectionType, httpUrl, PACING_SETTINGS, secretText } from '../connection';

export const slackConnection = defineConnectionType({
  type: 'slack',
  step: 'slack',
  label: 'Slack workspace',
  settings: {
    apiUrl: httpUrl.meta({ description: "the base URL of Slack's Web API, for a proxy before it; left out: Slack's own" }).optional(),
    ...PACING_SETTINGS,
  },
  secrets: {
    botToken: secretText.meta({ description: "a bot token (xoxb-…) of the workspace's app: posts to any channel the app is in" }).optional(),
    webhookUrl: httpUrl.meta({ description: "an incoming webhook's URL, instead of a bot token: posts to its one channel" }).optional(),
  },
  check: (fields) => (fields.botToken === undefined && fields.webhookUrl === undefined ? [{ field: 'botToken', message: 'is required, or webhookUrl' }] : []),
  checkable: true,
});
