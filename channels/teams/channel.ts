/**
 * The `teams` step: a message to a Microsoft Teams channel through a Workflows
 * (Power Automate) webhook.
 */
import { defineChannel } from '../channel';
import type { TeamsFields } from './schema';

export const teamsChannel = defineChannel({
  type: 'teams',
  label: 'Microsoft Teams',
  activity: 'sendTeams',
  summary: 'post to Teams',
  message: (step: TeamsFields) => ({ title: step.title, text: step.text, card: step.card }),
});
