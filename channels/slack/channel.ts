/** The `slack` step: a message through Slack's Web API or an incoming webhook. */
import { defineChannel } from '../channel';
import type { SlackFields } from './schema';

export const slackChannel = defineChannel({
  type: 'slack',
  label: 'Slack',
  activity: 'sendSlack',
  summary: 'post to Slack',
  message: (step: SlackFields) => ({ channel: step.channel, text: step.text, blocks: step.blocks, threadTs: step.threadTs }),
});
