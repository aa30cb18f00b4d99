/**
 * `npm run cli -- <command>`: the admin CLI, over the gateway's HTTP API with
 * an API key (`WFA_URL`, `WFA_API_KEY`, or `--url`, `--key`), so it works
 * against a remote deployment and with the key's role. `--json` prints the
 * API's answers as they are, for scripts.
 *
 * Exit codes: 0 done; 1 the gateway refused (the problem is printed), or a
 * followed run or batch did not succeed; 2 a usage error; 3 the gateway
 * could not be reached.
 */
import { readFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { CHANNEL_TYPES } from '../../channels';
import { ROLES } from '../shared/roles';
import { ApiError, type ApiClient, createApiClient, Unreachable } from './client';
import { deployCommands } from './deploy';
import { fields, progress, table } from './format';

const TERMINAL = ['SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];
/** Exit codes. */
const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

const program = new Command('wfa')
  .description('Workflow automation admin CLI: definitions, runs, recovery, batches, reports, keys and the audit log, over the gateway API')
  .option('--url <url>', 'the gateway (WFA_URL)', process.env.WFA_URL ?? 'http://127.0.0.1:3000')
  .option('--key <key>', 'an API key (WFA_API_KEY)')
  .option('--json', 'print the API answers as JSON')
  .option('--poll <ms>', 'how often follow and progress poll', (v) => positive(v, '--poll'), 1000)
  .showHelpAfterError()
  .exitOverride();

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.usage, 'wfa.invalidArgument', `${name} takes a whole number of 1 or more, not ${value}`);
  return n;
}

interface Globals {
  url: string;
  key?: string;
  json?: boolean;
  poll: number;
}

function globals(): Globals {
  return program.opts<Globals>();
}

function api(): ApiClient {
  const { url, key } = globals();
  return createApiClient(url, key ?? process.env.WFA_API_KEY);
}

/** Prints `value` as JSON under --json, else what `human` makes of it. */
function out<T>(value: T, human: (v: T) => string): void {
  process.stdout.write(`${globals().json ? JSON.stringify(value, null, 2) : human(value)}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readJsonFile(path: string): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    throw new CommanderError(EXIT.usage, 'wfa.file', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new CommanderError(EXIT.usage, 'wfa.file', `${path} is not JSON: ${(err as Error).message}`);
  }
}

function parseData(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  try {
    const value = JSON.parse(json) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // said below
  }
  throw new CommanderError(EXIT.usage, 'wfa.invalidArgument', `--data takes a JSON object, e.g. '{"email":"ada@example.com"}'`);
}

// --- definitions --------------------------------------------------------------------------------

const definitions = program.command('definitions').description('workflow definitions');

definitions
  .command('list')
  .description('every definition, with its version and whether it is enabled')
  .action(async () => {
    const page = await api().get('/api/workflows', { limit: 200 });
    out(page, (p) =>
      table(
        ['key', 'name', 'version', 'enabled', 'trigger', 'updated'],
        p.items.map((d: any) => [d.key, d.name, d.version, d.enabled, d.triggerType, d.updatedAt]),
      ),
    );
  });

definitions
  .command('show <id>')
  .description('one definition (id or key) with its steps and versions')
  .action(async (id: string) => {
    const d = await api().get(`/api/workflows/${encodeURIComponent(id)}`);
    out(d, (v) =>
      [
        fields({ key: v.key, name: v.name, version: v.version, enabled: v.enabled, trigger: v.triggerType, category: v.category }),
        '',
        table(['step', 'type'], (v.definition?.steps ?? []).map((s: any) => [s.id, s.type])),
        '',
        `versions: ${(v.versions ?? []).map((x: any) => x.version).join(', ')}`,
      ].join('\n'),
    );
  });

definitions
  .command('validate <file>')
  .description('check a definition file (JSON) without saving it')
  .action(async (file: string) => {
    const { body } = await api().post('/api/workflows/validate', await readJsonFile(file));
    out(body, () => `${file}: valid`);
  });

definitions
  .command('apply <file>')
  .description('create the definition in a file (JSON), or save it as a new version of the one with its key')
  .action(async (file: string) => {
    const document = (await readJsonFile(file)) as { key?: string };
    const client = api();
    if (typeof document.key === 'string') {
      const existing = await client.get(`/api/workflows/${encodeURIComponent(document.key)}`).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      });
      if (existing) {
        const updated = await client.put(`/api/workflows/${encodeURIComponent(document.key)}`, document);
        out(updated, (u) => `${u.key}: updated to version ${u.version}`);
        return;
      }
    }
    const { body } = await client.post('/api/workflows', document);
    out(body, (c) => `${c.key}: created (version ${c.version})`);
  });

definitions
  .command('migrate <id>')
  .description('move runs waiting at a top-level approval, delay or wait_for_signal step from one version to another')
  .requiredOption('--from <version>', 'the version the runs are on', (v) => positive(v, '--from'))
  .requiredOption('--to <version>', 'the version to move them to', (v) => positive(v, '--to'))
  .option('--map <old=new...>', 'a waiting step renamed in the new version (repeatable)', collectMapping, {})
  .option('--reason <text>', 'why the runs move (required unless --dry-run)')
  .option('--limit <n>', 'the most runs to take, oldest first', (v) => positive(v, '--limit'))
  .option('--dry-run', 'show where each run would go on, and change nothing')
  .action(async (id: string, o: { from: number; to: number; map: Record<string, string>; reason?: string; limit?: number; dryRun?: boolean }) => {
    const { body } = await api().post(`/api/workflows/${encodeURIComponent(id)}/migrate`, {
      fromVersion: o.from,
      toVersion: o.to,
      ...(Object.keys(o.map).length ? { stepMap: o.map } : {}),
      ...(o.reason !== undefined ? { reason: o.reason } : {}),
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
      dryRun: o.dryRun ?? false,
    });
    out(body, (r) =>
      [
        table(
          ['execution', 'waiting at', 'goes on at', 'not run', r.dryRun ? 'refused' : 'outcome'],
          r.runs.map((run: any) => [
            run.executionId,
            run.waitingAt,
            run.continuesAt,
            run.notRun.join(', ') || null,
            r.dryRun ? run.refused : `${run.outcome ?? 'REFUSED'}${run.refused ? `: ${run.refused}` : ''}`,
          ]),
        ),
        '',
        r.dryRun
          ? `dry run: ${r.movable} of ${r.total} runs would move from version ${r.fromVersion} to ${r.toVersion}${r.more ? ' (more past --limit)' : ''}`
          : `${r.moved} of ${r.total} runs moved from version ${r.fromVersion} to ${r.toVersion}, ${r.refused} refused${r.more ? ' (more past --limit)' : ''}`,
      ].join('\n'),
    );
  });

function collectMapping(value: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([^=]+)=([^=]+)$/.exec(value);
  if (!match) throw new CommanderError(EXIT.usage, 'wfa.invalidArgument', `--map takes old=new step ids, not ${value}`);
  return { ...previous, [match[1]!]: match[2]! };
}

// --- runs ---------------------------------------------------------------------------------------

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
      const found = await client.get(`/api/workflows/${encodeURIComponent(id)}`).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      });
      if (found) keys.set(id, found.key);
    }),
  );
  return keys;
}

runs
  .command('start <definition>')
  .description('start a run of a definition (id or key)')
  .option('--data <json>', 'the trigger data, a JSON object')
  .option('--follow', 'then follow it until it ends')
  .action(async (definition: string, o: { data?: string; follow?: boolean }) => {
    const { body } = await api().post(`/api/workflows/${encodeURIComponent(definition)}/execute`, { triggerData: parseData(o.data) });
    if (o.follow) return follow(body.executionId);
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

/** Prints each step event as it happens until the run ends; exit 1 unless it succeeded. */
async function follow(id: string): Promise<void> {
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
    if (TERMINAL.includes(run.status)) {
      if (!globals().json) process.stdout.write(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}\n`);
      if (run.status !== 'SUCCESS') process.exitCode = EXIT.refused;
      return;
    }
    await sleep(globals().poll);
  }
}

runs
  .command('follow <id>')
  .description("print a run's steps as they happen, until it ends (exit 1 unless it succeeds)")
  .action(follow);

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

function bulkCommand(action: 'reset' | 'replay') {
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
    await watchBatch(batch.batchId);
  });
}
bulkCommand('reset');
bulkCommand('replay');

/** Follows a batch to its end with a progress bar on stderr, then prints its outcome; exit 1 if any run failed. */
async function watchBatch(id: string): Promise<void> {
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

// --- batches, audit, keys -----------------------------------------------------------------------

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
    if (o.watch) return watchBatch(id);
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

// --- reports ------------------------------------------------------------------------------------

// --- the dev outbox -----------------------------------------------------------------------------

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

/** The words of an outbox message, on one line: a subject or title, then its text. */
function outboxText(message: Record<string, unknown>): string {
  const words = [message.subject, message.title, message.text ?? message.body].filter((v): v is string => typeof v === 'string' && v !== '');
  const line = (words.length ? words.join(': ') : JSON.stringify(message)).replace(/\s+/g, ' ');
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

const reports = program.command('reports').description('runs, success rates, durations, step failures and deliveries per day (viewer keys may read)');

interface ReportOptions {
  from?: string;
  to?: string;
  definition?: string;
}

function reportCommand(name: string, description: string, withDefinition = true) {
  const command = reports
    .command(name)
    .description(description)
    .option('--from <day>', 'first UTC day (YYYY-MM-DD); 29 days before --to by default')
    .option('--to <day>', 'last UTC day, included; today by default');
  return withDefinition ? command.option('--definition <id>', "one definition's id or key") : command;
}

const rate = (r: number | null) => (r === null ? null : `${(r * 100).toFixed(1)}%`);
const range = (r: any) => `${r.from} to ${r.to}${r.definition ? `, ${r.definition}` : ''}; as of ${r.asOf ?? 'never (no rollup pass yet)'}`;

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

reportCommand('deliveries', 'deliveries per day, channel and ledger status', false).action(async (o: ReportOptions) => {
  const r = await api().get('/api/reports/deliveries', { ...o });
  out(r, (v) => [range(v), table(['day', 'channel', 'status', 'deliveries', 'attempts'], v.items.map((d: any) => [d.day, d.channel, d.status, d.deliveries, d.attempts]))].join('\n'));
});

program
  .command('audit')
  .description('the audit log, newest first')
  .option('--target <id>', 'entries about one execution or batch')
  .option('--limit <n>', 'how many', (v) => positive(v, '--limit'), 50)
  .action(async (o: { target?: string; limit: number }) => {
    const page = await api().get('/api/audit', { target: o.target, limit: o.limit });
    out(page, (p) => table(['at', 'actor', 'action', 'target', 'reason'], p.items.map((e: any) => [e.at, e.actor, e.action, e.target, e.reason])));
  });

const keys = program.command('keys').description('API keys (admin); the first admin key comes from `npm run keys`, on the database');
keys
  .command('create')
  .description('create a key; it is printed once')
  .requiredOption('--name <name>', 'who or what uses it')
  .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
  .action(async (o: { name: string; role: string }) => {
    const { body } = await api().post('/api/keys', { name: o.name, role: o.role });
    out(body, (k) => `${k.name} (${k.role}, id ${k.id}): ${k.key}\nthe key is shown this once: keep it now`);
  });
keys
  .command('list')
  .description('every key, revoked ones included')
  .action(async () => {
    const page = await api().get('/api/keys');
    out(page, (p) => table(['id', 'name', 'role', 'prefix', 'last used', 'revoked'], p.items.map((k: any) => [k.id, k.name, k.role, k.prefix, k.lastUsedAt, k.revokedAt])));
  });
keys
  .command('revoke <id>')
  .description('revoke a key at once')
  .action(async (id: string) => {
    await api().delete(`/api/keys/${encodeURIComponent(id)}`);
    out({ revoked: id }, () => `key ${id} revoked`);
  });

// --- connections --------------------------------------------------------------------------------

const connections = program.command('connections').description('named credentials that steps use (admins write; secrets are never shown)');
/** A secret as the API answers it: set with a fingerprint, or not set. */
const secretState = (state: { set: boolean; fingerprint?: string }) => (state.set ? `set (${state.fingerprint ?? ''})` : 'not set');
connections
  .command('list')
  .description('every connection: type, version, where it is used')
  .action(async () => {
    const page = await api().get('/api/connections');
    out(page, (p) =>
      table(
        ['name', 'type', 'version', 'used by', 'updated'],
        p.items.map((c: any) => [c.name, c.type, c.version, c.usedBy.map((u: any) => `${u.definition} v${u.version}`).join(', '), c.updatedAt]),
      ),
    );
  });
connections
  .command('show <name>')
  .description('one connection: its settings, and of each secret whether it is set')
  .action(async (name: string) => {
    const c = await api().get(`/api/connections/${encodeURIComponent(name)}`);
    out(c, (v) =>
      [
        fields({ name: v.name, type: v.type, version: v.version, 'updated by': v.updatedBy, updated: v.updatedAt }),
        '',
        table(['setting', 'value'], Object.entries(v.settings).map(([k, value]) => [k, JSON.stringify(value)])),
        '',
        table(['secret', 'state'], Object.entries(v.secrets).map(([k, state]) => [k, secretState(state as { set: boolean; fingerprint?: string })])),
        ...(v.usedBy.length ? ['', `used by: ${v.usedBy.map((u: any) => `${u.definition} v${u.version} (${u.step})`).join(', ')}`] : []),
      ].join('\n'),
    );
  });
connections
  .command('apply <file>')
  .description('create the connection in a file (JSON: name, type, settings, secrets), or update the one of its name; secrets left out of the file are kept')
  .action(async (file: string) => {
    const document = (await readJsonFile(file)) as { name?: unknown; type?: unknown; settings?: unknown; secrets?: unknown };
    const client = api();
    if (typeof document.name === 'string') {
      const path = `/api/connections/${encodeURIComponent(document.name)}`;
      const existing = await client.get(path).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      });
      if (existing) {
        const updated = await client.put(path, { settings: document.settings ?? {}, secrets: document.secrets ?? {} });
        out(updated, (u) => `${u.name}: updated to version ${u.version}`);
        return;
      }
    }
    const { body } = await client.post('/api/connections', document);
    out(body, (c) => `${c.name}: created (${c.type}, version ${c.version})`);
  });
connections
  .command('test <name>')
  .description('check a connection without sending anything, where the provider allows it')
  .action(async (name: string) => {
    const { body } = await api().post(`/api/connections/${encodeURIComponent(name)}/test`, {});
    out(body, (r) => `${r.name} v${r.version}: ${r.checked ? (r.ok ? 'ok' : 'FAILED') : 'not checked'}: ${r.detail}`);
    if (body.checked && !body.ok) process.exitCode = EXIT.refused;
  });
connections
  .command('delete <name>')
  .description('delete a connection no current definition version names')
  .option('--force', 'delete it even so: the steps naming it then fail')
  .action(async (name: string, o: { force?: boolean }) => {
    await api().delete(`/api/connections/${encodeURIComponent(name)}${o.force ? '?force=true' : ''}`);
    out({ deleted: name }, () => `connection ${name} deleted`);
  });

// --- deploys (over Temporal, not the gateway) --------------------------------------------------

deployCommands(program, out);

// --- running ------------------------------------------------------------------------------------

function fail(message: string, code: number): void {
  process.stderr.write(`wfa: ${message}\n`);
  process.exitCode = code;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; commander has printed its usage message already.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exitCode = EXIT.ok;
    else if (err.code.startsWith('wfa.')) fail(err.message, EXIT.usage);
    else process.exitCode = EXIT.usage;
  } else if (err instanceof ApiError) {
    const detail = (err.problem.errors ?? []).map((e) => `\n  ${e.path}: ${e.message}`).join('');
    fail(`${err.status} ${err.problem.code}: ${err.problem.message}${detail}`, EXIT.refused);
  } else if (err instanceof Unreachable) {
    fail(err.message, EXIT.unreachable);
  } else {
    throw err;
  }
}
