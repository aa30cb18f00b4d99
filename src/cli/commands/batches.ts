/** `wfa batches …`: recovery batches, and following one to its end. */
import type { Command } from 'commander';
import { type Cli, EXIT, sleep } from '../context';
import { fields, progress, table } from '../format';

export function batchCommands(program: Command, cli: Cli): void {
  const { api, out } = cli;
  const batches = program.command('batches').description('recovery batches');
  batches
    .command('list')
    .description('batches, newest first')
    .action(async () => {
      const page = await api().get('/api/batches');
      out(page, (p) => table(['id', 'action', 'status', 'runs', 'by', 'reason', 'created'], p.items.map((b: any) => [b.id, b.action, b.status, b.total, b.requestedBy, b.reason, b.createdAt])));
    });
  batches
    .command('status <id>')
    .description("a batch's progress; --watch follows it to its end")
    .option('--watch', 'follow it with a progress bar until it ends')
    .action(async (id: string, o: { watch?: boolean }) => {
      if (o.watch) return watchBatch(cli, id);
      const b = await api().get(`/api/batches/${encodeURIComponent(id)}`);
      out(b, (v) =>
        [
          fields({ id: v.id, action: v.action, status: v.status, total: v.total, pending: v.pending, working: v.working, done: v.done, failed: v.failed, skipped: v.skipped }),
          ...v.problems.map((p: any) => `  ${p.executionId} ${p.outcome}: ${p.detail}`),
        ].join('\n'),
      );
    });
  batches
    .command('cancel <id>')
    .description('stop a batch: runs not begun are skipped')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action(async (id: string, o: { reason: string }) => {
      const { body } = await api().post(`/api/batches/${encodeURIComponent(id)}/cancel`, { reason: o.reason });
      out(body, () => `batch ${id}: cancelling`);
    });
}

/** Follows a batch to its end with a progress bar on stderr, then prints its outcome; exit 1 if any run failed. */
export async function watchBatch({ api, out, globals }: Cli, id: string): Promise<void> {
  const client = api();
  const bar = progress(process.stderr);
  for (;;) {
    const b = await client.get(`/api/batches/${encodeURIComponent(id)}`);
    const finished = b.done + b.failed + b.skipped;
    bar.update(finished, b.total, `done ${b.done}, failed ${b.failed}, skipped ${b.skipped}`);
    if (b.status !== 'RUNNING') {
      bar.end();
      out(b, (v) =>
        [
          `batch ${v.id} ${v.status}: ${v.done} done, ${v.failed} failed, ${v.skipped} skipped of ${v.total}`,
          ...v.problems.map((p: any) => `  ${p.executionId} ${p.outcome}: ${p.detail}`),
        ].join('\n'),
      );
      if (b.failed > 0) process.exitCode = EXIT.refused;
      return;
    }
    await sleep(globals().poll);
  }
}
