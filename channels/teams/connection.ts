/** The `teams` connection type: one Teams channel's Workflows webhook, whose URL is its credential. */
import { defineConnectionType, httpUrl, PACING_SETTINGS } from '../connection';

export const teamsConnection = defineConnectionType({
  type: 'teams',
  step: 'teams',
  label: 'Microsoft Teams webhook',
  settings: { ...PACING_SETTINGS },
  secrets: { webhookUrl: httpUrl },
  checkable: false,
});
