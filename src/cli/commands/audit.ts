/** `wfa audit`: the audit log. */
import type { Command } from 'commander';
import { type Cli, positive } from '../context';
import { table } from '../format';

export function auditCommand(program: Command, { api, out }: Cli): void {
  program
    .command('audit')
    .description('the audit log, newest first')
    .option('--target <id>', 'entries about one execution or batch')
    .option('--limit <n>', 'how many', (v) => positive(v, '--limit'), 50)
    .action(async (o: { target?: string; limit: number }) => {
      const page = await api().get('/api/audit', { target: o.target, limit: o.limit });
      out(page, (p) => table(['at', 'actor', 'action', 'target', 'reason'], p.items.map((e: any) => [e.at, e.actor, e.action, e.target, e.reason])));
    });
}
