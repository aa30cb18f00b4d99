/** `wfa outbox`: what the dev outbox recorded instead of sending. */
import type { Command } from 'commander';
import { CHANNEL_TYPES } from '../../../channels';
import { type Cli, positive } from '../context';
import { table } from '../format';

export function outboxCommand(program: Command, { api, out }: Cli): void {
  program
    .command('outbox')
    .description('messages recorded in the dev outbox, not delivered, because their channel has no credentials (npm run dev), newest first')
    .option('--run <executionId>', "one run's messages")
    .option('--channel <channel>', `${CHANNEL_TYPES.slice(0, -1).join(', ')} or ${CHANNEL_TYPES.at(-1)}`)
    .option('--limit <n>', 'how many', (v) => positive(v, '--limit'), 20)
    .action(async (o: { run?: string; channel?: string; limit: number }) => {
      const page = await api().get('/api/outbox', { execution: o.run, channel: o.channel, limit: o.limit });
      out(page, (p) =>
        p.items.length === 0
          ? 'the dev outbox is empty: nothing was recorded instead of sent'
          : table(
              ['recorded', 'channel', 'to', 'run', 'step', 'message (not delivered)'],
              p.items.map((m: any) => [m.createdAt, m.channel, m.recipient, m.executionId ?? m.workflowId, m.stepPath, outboxText(m.message)]),
            ),
      );
    });
}

/** The words of an outbox message, on one line: a subject or title, then its text. */
function outboxText(message: Record<string, unknown>): string {
  const words = [message.subject, message.title, message.text ?? message.body].filter((v): v is string => typeof v === 'string' && v !== '');
  const line = (words.length ? words.join(': ') : JSON.stringify(message)).replace(/\s+/g, ' ');
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
