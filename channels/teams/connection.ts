/** The `teams` connection type: one Teams channel's Workflows webhook, whose URL is its credential. */
import { defineConnectionType, httpUrl, PACING_SETTINGS } from '../connection';

export const teamsConnection = defineConnectionType({
  type: 'teams',
  step: 'teams',
  label: 'Microsoft Teams webhook',
  settings: { ...PACING_SETTINGS },
  secrets: { webhookUrl: httpUrl.meta({ description: "the Workflows webhook's URL of the channel (Teams: the channel's Workflows, 'Post to a channel when a webhook request is received')" }) },
  checkable: false,
});
