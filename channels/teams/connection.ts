/** The `teams` connection type: one Teams channel's Workflows webhook, whose URL is its credential. */
import { defineConnectionType, httpUrl } from '../connection';

export const teamsConnection = defineConnectionType({
  type: 'teams',
  step: 'teams',
  label: 'Microsoft Teams webhook',
  settings: {},
  secrets: { webhookUrl: httpUrl },
  checkable: false,
});
