/** `wfa keys …`: API keys, over the API (admin keys). */
import { type Command, Option } from 'commander';
import { ROLES } from '../../shared/roles';
import type { Cli } from '../context';
import { table } from '../format';

export function keyCommands(program: Command, { api, out }: Cli): void {
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
}
