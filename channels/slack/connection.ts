/** The `slack` connection type: a bot token (posts to any channel it is in) or an incoming webhook (one channel). */
import { defineConnectionType, httpUrl, PACING_SETTINGS, secretText } from '../connection';

export const slackConnection = defineConnectionType({
  type: 'slack',
  step: 'slack',
  label: 'Slack workspace',
  settings: {
    /** Base URL of Slack's Web API (a proxy). */
    apiUrl: httpUrl.optional(),
    ...PACING_SETTINGS,
  },
  secrets: { botToken: secretText.optional(), webhookUrl: httpUrl.optional() },
  check: (fields) => (fields.botToken === undefined && fields.webhookUrl === undefined ? [{ field: 'botToken', message: 'is required, or webhookUrl' }] : []),
  checkable: true,
});
