/** `wfa reports …`: the report rollups as tables. */
import { type Command, Option } from 'commander';
import { DELIVERY_GROUPINGS } from '../../shared/reports';
import type { Cli } from '../context';
import { fields, table } from '../format';

export function reportCommands(program: Command, { api, out }: Cli): void {
  const reports = program.command('reports').description('runs, success rates, durations, step failures and deliveries per day (viewer keys may read)');

  function reportCommand(name: string, description: string, withDefinition = true) {
    const command = reports
      .command(name)
      .description(description)
      .option('--from <day>', 'first UTC day (YYYY-MM-DD); 29 days before --to by default')
      .option('--to <day>', 'last UTC day, included; today by default');
    return withDefinition ? command.option('--definition <id>', "one definition's id or key") : command;
  }

  reportCommand('summary', 'the whole range: counts, success rate, durations, open runs, failing definitions, deliveries').action(async (o: ReportOptions) => {
    const r = await api().get('/api/reports/summary', { ...o });
    out(r, (v) =>
      [
        range(v),
        '',
        fields({
          ended: v.runs,
          succeeded: v.succeeded,
          failed: v.failed,
          'timed out': v.timedOut,
          cancelled: v.cancelled,
          terminated: v.terminated,
          'success rate': rate(v.successRate),
          'SLA breached': v.slaBreached,
          open: v.open,
          'open past SLA': v.openPastSla,
          'p50 / p95 / p99': [v.durationMs.p50, v.durationMs.p95, v.durationMs.p99].map((ms: number | null) => (ms === null ? '–' : `${ms} ms`)).join(' / '),
        }),
        '',
        table(['failing definition', 'ended', 'failed', 'success rate'], v.failingDefinitions.map((d: any) => [d.definitionKey, d.runs, d.failed, rate(d.successRate)])),
        ...(v.deliveries.length ? ['', table(['channel', 'status', 'deliveries'], v.deliveries.map((d: any) => [d.channel, d.status, d.deliveries]))] : []),
      ].join('\n'),
    );
  });

  reportCommand('daily', 'ended runs per day, definition and version, with the success rate').action(async (o: ReportOptions) => {
    const r = await api().get('/api/reports/daily', { ...o });
    out(r, (v) =>
      [
        range(v),
        table(
          ['day', 'definition', 'version', 'ended', 'succeeded', 'failed', 'success rate', 'SLA breached', 'mean ms'],
          v.items.map((d: any) => [d.day, d.definitionKey, d.definitionVersion, d.runs, d.succeeded, d.failed, rate(d.successRate), d.slaBreached, d.meanDurationMs]),
        ),
      ].join('\n'),
    );
  });

  reportCommand('steps', 'steps by failures, with the failure rate and the commonest error').action(async (o: ReportOptions) => {
    const r = await api().get('/api/reports/steps', { ...o });
    out(r, (v) =>
      [
        range(v),
        table(
          ['definition', 'step', 'type', 'started', 'failed', 'failure rate', 'top error'],
          v.items.map((s: any) => {
            const top = s.topErrors[0];
            return [s.definitionKey, s.stepId, s.stepType, s.started, s.failed, rate(s.failureRate), top ? `${top.errorType ?? 'untyped'} ×${top.failures}: ${top.sample ?? ''}`.slice(0, 80) : null];
          }),
        ),
      ].join('\n'),
    );
  });

  reportCommand('deliveries', 'deliveries per day, channel (or connection) and ledger status', false)
    .addOption(new Option('--by <grouping>', 'a row per channel (by default), or per channel and connection').choices(DELIVERY_GROUPINGS))
    .option('--connection <name>', 'only the deliveries through this connection')
    .action(async (o: ReportOptions & { by?: string; connection?: string }) => {
      const r = await api().get('/api/reports/deliveries', { ...o });
      out(r, (v) => {
        // Rows name their connection when the API groups or filters by it.
        const perConnection = v.items.some((d: any) => d.connection !== undefined);
        return [
          range(v),
          table(
            ['day', 'channel', ...(perConnection ? ['connection'] : []), 'status', 'deliveries', 'attempts'],
            v.items.map((d: any) => [d.day, d.channel, ...(perConnection ? [d.connection ?? ENVIRONMENT] : []), d.status, d.deliveries, d.attempts]),
          ),
        ].join('\n');
      });
    });
}

interface ReportOptions {
  from?: string;
  to?: string;
  definition?: string;
}

const rate = (r: number | null) => (r === null ? null : `${(r * 100).toFixed(1)}%`);
const range = (r: any) => `${r.from} to ${r.to}${r.definition ? `, ${r.definition}` : ''}; as of ${r.asOf ?? 'never (no rollup pass yet)'}`;

/** What the deliveries report shows for a channel's settings from the environment (a connection's name has no parentheses). */
const ENVIRONMENT = '(environment)';
