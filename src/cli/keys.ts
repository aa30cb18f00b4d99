/**
 * `npm run keys -- <command>`: API keys on DATABASE_URL.
 *
 *   create --role <viewer|operator|admin> --name <name>   prints the new key, once
 *   list                                                   every key, without secrets
 *   revoke <id>                                            the key stops working at once
 *
 * `create` writes only the key to stdout (everything else to stderr), so
 * `KEY=$(npm run -s keys -- create --role admin --name ops)` captures it.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config';
import { isRole, type Role, ROLES } from '../shared/roles';
import { createApiKey, listApiKeys, revokeApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';

const USAGE = `usage: npm run keys -- create --role <${ROLES.join('|')}> --name <name> | list | revoke <id>`;

type Command = { name: 'create'; role: Role; keyName: string } | { name: 'list' } | { name: 'revoke'; id: string };

function parseCommand(argv: string[]): Command | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { role: { type: 'string' }, name: { type: 'string' } },
    });
  } catch (err) {
    return (err as Error).message;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  switch (command) {
    case 'create': {
      if (rest.length) return `create takes no positional arguments (got ${rest.join(' ')})`;
      if (!isRole(values.role)) return `--role must be one of ${ROLES.join(', ')}`;
      const keyName = values.name?.trim();
      if (!keyName) return '--name is required';
      return { name: 'create', role: values.role, keyName };
    }
    case 'list':
      if (rest.length || values.role !== undefined || values.name !== undefined) return 'list takes no arguments';
      return { name: 'list' };
    case 'revoke':
      if (rest.length !== 1 || values.role !== undefined || values.name !== undefined) return 'revoke takes one key id';
      return { name: 'revoke', id: rest[0] as string };
    default:
      return command === undefined ? 'a command is required' : `unknown command "${command}"`;
  }
}

const command = parseCommand(process.argv.slice(2));
if (typeof command === 'string') {
  process.stderr.write(`${command}\n${USAGE}\n`);
  process.exit(2);
}

const config = loadConfigOrExit();
const db = createDb({ url: config.database.url, poolMax: 2 });

function when(date: Date | null): string {
  return date ? date.toISOString() : '-';
}

async function main(cmd: Command): Promise<void> {
  switch (cmd.name) {
    case 'create': {
      const { record, key } = await createApiKey(db, { name: cmd.keyName, role: cmd.role });
      process.stderr.write(`created API key ${record.id} "${record.name}" (${record.role}); store it now, it is not shown again:\n`);
      process.stdout.write(`${key}\n`);
      break;
    }
    case 'list': {
      const keys = await listApiKeys(db);
      if (keys.length === 0) {
        console.log('no API keys; create one with: npm run keys -- create --role admin --name <name>');
        break;
      }
      const rows = [
        ['id', 'name', 'role', 'prefix', 'created', 'last used', 'revoked'],
        ...keys.map((k) => [k.id, k.name, k.role, `${k.prefix}…`, when(k.created_at), when(k.last_used_at), when(k.revoked_at)]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
      break;
    }
    case 'revoke': {
      const record = await revokeApiKey(db, cmd.id);
      if (!record) {
        console.error(`no API key has id "${cmd.id}"`);
        process.exitCode = 1;
        break;
      }
      console.log(`revoked API key ${record.id} "${record.name}" (${record.role}) at ${when(record.revoked_at)}`);
      break;
    }
  }
}

main(command)
  .catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    console.error(`failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error(
      code === '42P01'
        ? 'The api_keys table is missing: run npm run migrate first.'
        : 'Check that Postgres is running and DATABASE_URL points at it.',
    );
    process.exitCode = 1;
  })
  .finally(() => db.destroy());
