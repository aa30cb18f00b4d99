/** `wfa runs …`: list, start, show and follow runs, and what they sent; reset and replay them, one or in bulk. */
import { type Command, Option } from 'commander';
import type { ExecutionDelivery } from '../../gateway/routes/executions';
import { isTerminal } from '../../shared/status';
import type { ApiClient } from '../client';
import { type Cli, EXIT, getIfFound, parseData, positive, sleep } from '../context';
import { fields, table } from '../format';
import { watchBatch } from './batches';

export function runCommands(program: Command, cli: Cli): void {
  const { api, out, globals } = cli;
  const runs = program.command('runs').description('runs (executions)');

  runs
    .command('list')
    .description('runs, newest first')
    .option('--definition <id>', "a definition's id or key")
    .option('--status <statuses>', 'one status, or several separated by commas')
    .option('--from <time>', 'started at or after (ISO 8601)')
    .option('--limit <n>', 'how many', (v) => positive(v, '--limit'), 20)
    .action(async (o: { definition?: string; status?: string; from?: string; limit: number }) => {
      const client = api();
      const page = await client.get('/api/executions', { definition: o.definition, status: o.status, from: o.from, limit: o.limit });
      // --json prints the API's answer as it is: definition ids, no keys to look up.
      const keyOf = globals().json ? new Map<string, string>() : await definitionKeys(client, page.items.map((r: any) => r.definitionId));
      out(page, (p) =>
        table(
          ['id', 'definition', 'status', 'version', 'started', 'ms', 'error'],
          p.items.map((r: any) => [r.id, keyOf.get(r.definitionId) ?? r.definitionId, r.status, r.definitionVersion, r.startedAt, r.durationMs, r.error?.slice(0, 60)]),
        ),
      );
    });

  runs
    .command('start <definition>')
    .description('start a run of a definition (id or key)')
    .option('--data <json>', 'the trigger data, a JSON object')
    .option('--follow', 'then follow it until it ends')
    .action(async (definition: string, o: { data?: string; follow?: boolean }) => {
      const { body } = await api().post(`/api/workflows/${encodeURIComponent(definition)}/execute`, { triggerData: parseData(o.data) });
      if (o.follow) return follow(cli, body.executionId);
      out(body, (b) => `started ${b.executionId} (version ${b.definitionVersion})`);
    });

  runs
    .command('show <id>')
    .description('one run: its row and step log')
    .action(async (id: string) => {
      const run = await api().get(`/api/executions/${encodeURIComponent(id)}`);
      out(run, (r) =>
        [
          fields({ id: r.id, workflow: r.workflowId, status: r.status, version: r.definitionVersion, started: r.startedAt, finished: r.finishedAt, error: r.error }),
          '',
          table(['step', 'event', 'attempt', 'at', 'error'], r.logs.map((l: any) => [l.stepPath, l.event, l.attempt, l.timestamp, l.error])),
          '',
          `Temporal UI: ${r.temporalUiUrl}`,
        ].join('\n'),
      );
    });

  runs
    .command('deliveries <id>')
    .description('what a run sent: its rows of the delivery ledger, oldest first')
    .action(async (id: string) => {
      const answer = await api().get<{ executionId: string; items: ExecutionDelivery[] }>(`/api/executions/${encodeURIComponent(id)}/deliveries`);
      out(answer, (a) => {
        if (a.items.length === 0) return `run ${a.executionId} has sent nothing: no step of it has begun to send`;
        // Why a send failed, in a last column when one did.
        const errors = a.items.some((d) => d.error !== null);
        return table(
          ['created', 'step', 'channel', 'status', 'attempts', 'to', 'connection', 'updated', ...(errors ? ['error'] : [])],
          a.items.map((d) => [d.createdAt, d.stepPath, d.channel, d.status, d.attempts, d.recipient, connectionOf(d), d.updatedAt, ...(errors ? [d.error] : [])]),
        );
      });
    });

  runs
    .command('follow <id>')
    .description("print a run's steps as they happen, until it ends (exit 1 unless it succeeds)")
    .action((id: string) => follow(cli, id));

  runs
    .command('reset <id>')
    .description('redo a failed run from the step that failed (or from the start)')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .addOption(new Option('--to <point>', 'where to').choices(['failed-step', 'start']).default('failed-step'))
    .action(async (id: string, o: { reason: string; to: string }) => {
      const { body } = await api().post(`/api/executions/${encodeURIComponent(id)}/reset`, { reason: o.reason, to: o.to });
      out(body, (b) => `reset ${b.executionId}: new run ${b.runId}${b.redoes ? `, redoing ${b.redoes}` : ''}`);
    });

  runs
    .command('replay <id>')
    .description('run a closed run again as a new execution: same version, same trigger data')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .action(async (id: string, o: { reason: string }) => {
      const { body } = await api().post(`/api/executions/${encodeURIComponent(id)}/replay`, { reason: o.reason });
      out(body, (b) => `replayed ${id} as ${b.executionId}`);
    });

  bulkCommand(runs, cli, 'reset');
  bulkCommand(runs, cli, 'replay');
}

/** The connection a delivery went through, as `name@version`; `environment` for the channel's own settings. */
function connectionOf(d: ExecutionDelivery): string {
  if (d.connection === null) return 'environment';
  return d.connectionVersion === null ? d.connection : `${d.connection}@${d.connectionVersion}`;
}

/**
 * The keys of the definitions with these ids: the list's first page, then
 * each one not on it by its id. A deleted definition's runs keep its id,
 * which is what they show.
 */
async function definitionKeys(client: ApiClient, ids: string[]): Promise<Map<string, string>> {
  const listed = await client.get('/api/workflows', { limit: 200 });
  const keys = new Map<string, string>(listed.items.map((d: any) => [d.id, d.key]));
  const missing = [...new Set(ids)].filter((id) => !keys.has(id));
  await Promise.all(
    missing.map(async (id) => {
      const found = await getIfFound(client, `/api/workflows/${encodeURIComponent(id)}`);
      if (found) keys.set(id, found.key);
    }),
  );
  return keys;
}

/** Prints each step event as it happens until the run ends; exit 1 unless it succeeded. */
async function follow({ api, globals }: Cli, id: string): Promise<void> {
  const client = api();
  const seen = new Set<string>();
  for (;;) {
    const run = await client.get(`/api/executions/${encodeURIComponent(id)}`);
    for (const log of run.logs as any[]) {
      const key = `${log.stepPath}/${log.event}/${log.attempt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (globals().json) process.stdout.write(`${JSON.stringify(log)}\n`);
      else process.stdout.write(`${log.timestamp}  ${log.stepPath.padEnd(24)} ${log.event}${log.error ? `  ${log.error}` : ''}\n`);
    }
    if (isTerminal(run.status)) {
      if (!globals().json) process.stdout.write(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}\n`);
      if (run.status !== 'SUCCESS') process.exitCode = EXIT.refused;
      return;
    }
    await sleep(globals().poll);
  }
}

interface BulkOptions {
  definition?: string;
  version?: number;
  failedStep?: string;
  errorType?: string;
  error?: string;
  status?: string;
  from?: string;
  to?: string;
  reason: string;
  dryRun?: boolean;
  resetTo: string;
  concurrency: number;
  wait?: boolean;
}

function bulkCommand(runs: Command, cli: Cli, action: 'reset' | 'replay') {
  const { api, out } = cli;
  const command = runs
    .command(`bulk-${action}`)
    .description(`${action} every closed run a filter matches (--dry-run first), following the batch with a progress bar`)
    .option('--definition <id>', "a definition's id or key")
    .option('--version <n>', 'the version the runs pinned', (v) => positive(v, '--version'))
    .option('--failed-step <id>', 'the step that failed')
    .option('--error-type <type>', "that step's failure type, e.g. ProviderUnavailable")
    .option('--error <text>', 'a part of the error message')
    .option('--status <statuses>', 'statuses separated by commas (default FAILED)')
    .option('--from <time>', 'runs started at or after (ISO 8601)')
    .option('--to <time>', 'runs started before (ISO 8601)')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .option('--dry-run', 'say what would happen, change nothing')
    .option('--concurrency <n>', 'runs at once', (v) => positive(v, '--concurrency'), 5)
    .option('--no-wait', 'start the batch and return its id');
  if (action === 'reset') command.addOption(new Option('--reset-to <point>', 'where to').choices(['failed-step', 'start']).default('failed-step'));
  command.action(async (o: BulkOptions) => {
    const filter = Object.fromEntries(
      Object.entries({
        definition: o.definition,
        version: o.version,
        failedStep: o.failedStep,
        errorType: o.errorType,
        error: o.error,
        status: o.status?.split(',').map((s) => s.trim().toUpperCase()),
        from: o.from,
        to: o.to,
      }).filter(([, v]) => v !== undefined),
    );
    const body = { filter, reason: o.reason, concurrency: o.concurrency, ...(action === 'reset' ? { to: o.resetTo } : {}) };
    const client = api();
    if (o.dryRun) {
      const { body: preview } = await client.post(`/api/executions/bulk/${action}`, { ...body, dryRun: true });
      out(preview, (p) =>
        [
          `${p.matched} runs match; a ${action} would:`,
          table(['definition', 'version', 'failed step', 'error type', 'runs'], p.groups.map((g: any) => [g.definitionKey, g.definitionVersion, g.failedStep, g.errorType, g.count])),
          '',
          table(['run', 'what happens', 'delivered already'], p.runs.map((r: any) => [r.executionId, r.refused ?? r.action, r.delivered.map((d: any) => d.stepPath).join(', ')])),
        ].join('\n'),
      );
      return;
    }
    const { body: batch } = await client.post(`/api/executions/bulk/${action}`, body);
    if (!o.wait) {
      out(batch, (b) => `batch ${b.batchId}: ${b.total} runs, under way`);
      return;
    }
    await watchBatch(cli, batch.batchId);
  });
}
