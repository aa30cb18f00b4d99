/**
 * Retention: deletes what finished runs left behind once it is older than
 * the kept period, in small batches, so no statement holds locks for long and
 * inserts by live runs keep flowing. A row of a run that is still open is
 * never deleted, whatever its age: only runs settled (SUCCESS, FAILED,
 * CANCELLED, TERMINATED, TIMED_OUT) before the cutoff go, with their step
 * logs, approval decisions and batch items (ON DELETE CASCADE), and the
 * ledger and outbox rows of their workflow ids.
 *
 * Ledger rows have no foreign key to their run (a reset run keeps the same
 * workflow id), so they go first, by workflow id: a row of a `foreach` chunk
 * carries the chunk's workflow id (`<run's id>:<step>:<n>`…), mapped back to
 * its run's.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema';
import { TERMINAL_STATUSES } from '../src/shared/status';

export interface RetentionOptions {
  /** Runs finished more than this many days ago go, with what they left. */
  days: number;
  /** Audit entries and finished recovery batches older than this go. @default 365 */
  auditDays?: number;
  /** Rows per statement. @default 1000 */
  batchSize?: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /** Told each table's count as it goes. */
  say?: (line: string) => void;
  /** The moment ages count from. @default now */
  now?: Date;
}

export type RetentionCounts = Record<RetentionTable, number>;

export const RETENTION_TABLES = ['deliveries', 'dev_outbox', 'pacing_reservations', 'workflow_executions', 'recovery_batches', 'audit_log'] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];

/** The workflow id of the run a ledger or outbox row belongs to (a foreach chunk's rows carry the chunk's id). */
const RUN_WORKFLOW_ID = sql.raw(`regexp_replace(t.workflow_id, '(:[^:]+:[0-9]+)+$', '')`);

export async function cleanRetention(db: Kysely<Database>, options: RetentionOptions): Promise<RetentionCounts> {
  const { days, auditDays = 365, batchSize = 1000, dryRun = false, say = () => undefined, now = new Date() } = options;
  if (!(days >= 1)) throw new Error(`RETENTION_DAYS must be a whole number of days, 1 or more (got ${days})`);
  if (!(batchSize >= 1)) throw new Error(`the batch size must be 1 or more (got ${batchSize})`);
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const auditCutoff = new Date(now.getTime() - auditDays * 86_400_000);
  const terminal = sql.join(TERMINAL_STATUSES.map((s) => sql.lit(s)));
  /** A finished run, settled before the cutoff, of workflow id `id`. */
  const finishedRunOf = (id: ReturnType<typeof sql.raw>) =>
    sql`exists (select 1 from workflow_executions e where e.workflow_id = ${id} and e.status in (${terminal}) and e.finished_at < ${cutoff})`;

  const plans: Record<RetentionTable, { where: ReturnType<typeof sql>; key: string }> = {
    deliveries: { where: finishedRunOf(RUN_WORKFLOW_ID), key: 'delivery_key' },
    dev_outbox: { where: finishedRunOf(RUN_WORKFLOW_ID), key: 'id' },
    // A slot reserved long ago holds nothing any more, open run or not.
    pacing_reservations: { where: sql`t.created_at < ${cutoff}`, key: 'delivery_key' },
    workflow_executions: { where: sql`t.status in (${terminal}) and t.finished_at < ${cutoff}`, key: 'id' },
    recovery_batches: { where: sql`t.status <> 'RUNNING' and t.finished_at < ${auditCutoff}`, key: 'id' },
    audit_log: { where: sql`t.at < ${auditCutoff}`, key: 'id' },
  };

  const counts = Object.fromEntries(RETENTION_TABLES.map((t) => [t, 0])) as RetentionCounts;
  for (const table of RETENTION_TABLES) {
    const { where, key } = plans[table];
    const name = sql.table(table);
    const column = sql.ref(key);
    if (dryRun) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${name} t where ${where}`.execute(db);
      counts[table] = rows[0]?.n ?? 0;
      say(`${table}: ${counts[table]} rows would be deleted`);
      continue;
    }
    for (;;) {
      // One short statement per batch: its rows, locked as they are found, skipping any a live writer holds.
      const { numAffectedRows } = await sql`
        delete from ${name} where ${column} in (
          select t.${column} from ${name} t where ${where} limit ${batchSize} for update skip locked)`.execute(db);
      const deleted = Number(numAffectedRows ?? 0);
      counts[table] += deleted;
      if (deleted > 0) say(`${table}: ${counts[table]} rows deleted so far`);
      if (deleted < batchSize) break;
    }
    say(`${table}: ${counts[table]} rows deleted`);
  }
  return counts;
}
