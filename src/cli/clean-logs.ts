/**
 * `npm run clean-logs [-- --dry-run] [--days N] [--audit-days N] [--batch-size N]`:
 * deletes finished runs older than RETENTION_DAYS (90) with what they left,
 * and audit entries older than RETENTION_AUDIT_DAYS (365); see db/retention.ts.
 * `--schedule '<cron>' [--timezone <zone>]` makes it a Temporal Schedule the
 * workers run instead; `--unschedule` removes it. Reads DATABASE_URL and
 * TEMPORAL_ADDRESS like the services do.
 */
import { loadConfigOrExit, redactUrl } from '../config';
import { createDb } from '../../db/client';
import { connectTemporal } from '../temporal/client';
import { cleanRetention } from '../../db/retention';
import { RETENTION_SCHEDULE_ID, scheduleRetention, unscheduleRetention } from '../temporal/retention-schedule';

const USAGE =
  'usage: npm run clean-logs -- [--dry-run] [--days <n>] [--audit-days <n>] [--batch-size <n>]\n' +
  "       npm run clean-logs -- --schedule '<cron>' [--timezone <zone>]   (run by the workers on a Temporal Schedule)\n" +
  '       npm run clean-logs -- --unschedule';

function parseArgs(argv: string[], defaults: { days: number; auditDays: number }) {
  const options = { ...defaults, batchSize: 1000, dryRun: false, schedule: undefined as string | undefined, timezone: 'UTC', unschedule: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const number = (name: string) => {
      const text = argv[(i += 1)];
      const value = Number(text);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a whole number of 1 or more, not ${text ?? 'nothing'}\n${USAGE}`);
      return value;
    };
    if (arg === '--dry-run') options.dryRun = true;
    else if (arg === '--days') options.days = number(arg);
    else if (arg === '--audit-days') options.auditDays = number(arg);
    else if (arg === '--batch-size') options.batchSize = number(arg);
    else if (arg === '--schedule' || arg === '--timezone') {
      const text = argv[(i += 1)];
      if (!text) throw new Error(`${arg} takes a value\n${USAGE}`);
      if (arg === '--schedule') options.schedule = text;
      else options.timezone = text;
    } else if (arg === '--unschedule') options.unschedule = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  return options;
}

const config = loadConfigOrExit();
let options: ReturnType<typeof parseArgs>;
try {
  options = parseArgs(process.argv.slice(2), config.retention);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

async function schedule(): Promise<void> {
  const { client, connection } = await connectTemporal(config);
  try {
    if (options.unschedule) {
      console.log((await unscheduleRetention(client)) ? `schedule ${RETENTION_SCHEDULE_ID} deleted` : `no schedule ${RETENTION_SCHEDULE_ID} to delete`);
      return;
    }
    const outcome = await scheduleRetention(client, config, options.schedule!, options.timezone);
    console.log(
      `schedule ${RETENTION_SCHEDULE_ID} ${outcome}: '${options.schedule}' (${options.timezone}); the workers delete what their ` +
        'RETENTION_DAYS and RETENTION_AUDIT_DAYS no longer keep; see it in the Temporal UI under Schedules',
    );
  } finally {
    await connection.close();
  }
}

if (options.schedule !== undefined || options.unschedule) {
  schedule().catch((err: unknown) => {
    console.error(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
} else {
  const db = createDb({ url: config.database.url, poolMax: 2 });
  console.log(
    `database: ${redactUrl(config.database.url)}; keeping finished runs ${options.days} days, audit entries ${options.auditDays} days` +
      (options.dryRun ? ' (dry run: nothing is deleted)' : ''),
  );
  const started = Date.now();
  cleanRetention(db, { ...options, say: (line) => console.log(line) })
    .then((counts) => {
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      console.log(`${options.dryRun ? 'would delete' : 'deleted'} ${total} rows in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })
    .catch((err: unknown) => {
      console.error(`failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    })
    .finally(() => db.destroy());
}
