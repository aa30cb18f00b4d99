/** `wfa definitions …`: list, show, validate and apply definitions, and move waiting runs between versions. */
import type { Command } from 'commander';
import { type Cli, getIfFound, positive, readJsonFile, usage } from '../context';
import { fields, table } from '../format';

export function definitionCommands(program: Command, { api, out }: Cli): void {
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
        const existing = await getIfFound(client, `/api/workflows/${encodeURIComponent(document.key)}`);
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
}

/** `--map old=new`, repeatable, collected into one mapping. */
function collectMapping(value: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([^=]+)=([^=]+)$/.exec(value);
  if (!match) throw usage(`--map takes old=new step ids, not ${value}`);
  return { ...previous, [match[1]!]: match[2]! };
}
