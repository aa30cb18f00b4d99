/**
 * `npm run connections -- rewrap [--batch <n>]`: after a rotation of the
 * master key (CONNECTION_KEY_ID naming the new one, the old one still in
 * CONNECTION_KEYS), wraps every connection's data key with the current key,
 * in batches, printing progress; on DATABASE_URL, while the product runs.
 * Exits 1 when a connection could not be opened (its key is named).
 */
import { parseArgs } from 'node:util';
import { createDb } from '../../db/client';
import { loadConfigOrExit } from '../config';
import { rewrapConnections } from '../connections/rewrap';

const USAGE = 'usage: npm run connections -- rewrap [--batch <connections per batch, default 100>]';

function parseCommand(argv: string[]): { batchSize: number } | string {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { batch: { type: 'string' } } });
  } catch (err) {
    return (err as Error).message;
  }
  const [command, ...rest] = parsed.positionals;
  if (command !== 'rewrap') return command === undefined ? 'a command is required' : `unknown command "${command}"`;
  if (rest.length) return `rewrap takes no positional arguments (got ${rest.join(' ')})`;
  const batchSize = parsed.values.batch === undefined ? 100 : Number(parsed.values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) return '--batch takes a whole number from 1 to 10000';
  return { batchSize };
}

const command = parseCommand(process.argv.slice(2));
if (typeof command === 'string') {
  process.stderr.write(`${command}\n${USAGE}\n`);
  process.exit(2);
}

const config = loadConfigOrExit();
if (!config.connectionKeys) {
  process.stderr.write('CONNECTION_KEYS is not set: there is no master key to wrap with\n');
  process.exit(2);
}
const db = createDb({ url: config.database.url, poolMax: 2 });

async function main(keys: NonNullable<typeof config.connectionKeys>, batchSize: number): Promise<number> {
  const done = await rewrapConnections(db, keys, {
    batchSize,
    onProgress: (p) => process.stderr.write(`re-wrapped ${p.rewrapped} connection(s) with "${keys.currentKeyId}" so far\n`),
  });
  for (const problem of done.unreadable) process.stderr.write(`${problem.message}\n`);
  process.stdout.write(`${done.rewrapped} connection(s) re-wrapped with master key "${keys.currentKeyId}"; ${done.unreadable.length} could not be opened\n`);
  return done.unreadable.length > 0 ? 1 : 0;
}

main(config.connectionKeys, command.batchSize)
  .then((code) => (process.exitCode = code))
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => void db.destroy());
