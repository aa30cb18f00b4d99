/** `wfa connections …`: named credentials; their secrets are never printed. */
import type { Command } from 'commander';
import { type Cli, EXIT, getIfFound, readJsonFile } from '../context';
import { fields, table } from '../format';

export function connectionCommands(program: Command, { api, out }: Cli): void {
  const connections = program.command('connections').description('named credentials that steps use (admins write; secrets are never shown)');
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
        const existing = await getIfFound(client, path);
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
}

/** A secret as the API answers it: set with a fingerprint, or not set. */
const secretState = (state: { set: boolean; fingerprint?: string }) => (state.set ? `set (${state.fingerprint ?? ''})` : 'not set');
