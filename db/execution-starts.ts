/**
 * The mirror writes of runs being started: their rows before the run starts,
 * and their run ids once Temporal has accepted it. Each is one statement of
 * fixed text for any number of rows, prepared once per connection, since the
 * gateway makes both on every start; either may skip waiting for the disk
 * where the run itself makes good the loss.
 */
import type { Kysely } from 'kysely';
import { type PreparedStatement, runPrepared } from './client';
import type { Database, NewExecutionRow } from './schema';

/** A run's row as written before the run starts: what it runs and why; the rest keep their defaults. */
export type PendingExecutionRow = Pick<
  NewExecutionRow,
  'id' | 'definition_id' | 'definition_version' | 'workflow_id' | 'status' | 'trigger_type' | 'trigger_data' | 'template_key' | 'category' | 'replay_of'
>;

/** {@link PendingExecutionRow}'s columns, each with its type in Postgres. */
const PENDING_COLUMNS = [
  ['id', 'uuid'],
  ['definition_id', 'uuid'],
  ['definition_version', 'int4'],
  ['workflow_id', 'text'],
  ['status', 'text'],
  ['trigger_type', 'text'],
  ['trigger_data', 'jsonb'],
  ['template_key', 'text'],
  ['category', 'text'],
  ['replay_of', 'uuid'],
] as const satisfies readonly (readonly [keyof PendingExecutionRow, string])[];

// One array per column, so that one statement of fixed text takes any number of rows.
const INSERT_PENDING = `
  insert into workflow_executions (${PENDING_COLUMNS.map(([column]) => column).join(', ')})
  select * from unnest(${PENDING_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`;

// `set_config(..., true)` lasts until the statement's own transaction commits, and is read by that commit.
const NOT_WAITING_FOR_DISK = `set_config('synchronous_commit', 'off', true)`;

const insertPending: Record<'durable' | 'notDurable', PreparedStatement> = {
  durable: { name: 'insert_pending_executions', text: INSERT_PENDING },
  notDurable: {
    name: 'insert_pending_executions_not_durable',
    text: `${INSERT_PENDING}\n  returning ${NOT_WAITING_FOR_DISK}`,
  },
};

/**
 * Inserts the rows of runs about to start, in one statement, prepared once
 * per connection: the gateway makes it on every start.
 *
 * With `durable: false` the statement commits without waiting for its WAL to
 * reach disk (see {@link markExecutionsStarted}); the rows are visible to
 * every reader at once all the same. For rows whose runs carry them (see
 * `MirrorUpdate.row`): should the database crash before the WAL is written,
 * each run's first mirror write makes its row again.
 */
export async function insertExecutions(
  db: Kysely<Database>,
  rows: PendingExecutionRow[],
  { durable = true }: { durable?: boolean } = {},
): Promise<void> {
  const values = PENDING_COLUMNS.map(([column]) =>
    rows.map((row) => {
      const value = row[column];
      // An array of jsonb goes as an array of JSON texts.
      return column === 'trigger_data' && typeof value !== 'string' ? JSON.stringify(value) : (value ?? null);
    }),
  );
  await runPrepared(db, durable ? insertPending.durable : insertPending.notDurable, values);
}

/**
 * Records the run id once Temporal accepted the start; never moves a row
 * backwards, nor replaces a run id the run itself wrote (a later run's, after
 * continue-as-new).
 */
export async function markExecutionStarted(db: Kysely<Database>, id: string, runId: string): Promise<void> {
  await markExecutionsStarted(db, [{ id, runId }]);
}

const MARK_STARTED = (commit: string) => `
  update workflow_executions as e
  set run_id = coalesce(e.run_id, v.run_id),
      status = case when e.status = 'PENDING' then 'RUNNING' else e.status end,
      updated_at = now()
  from unnest($1::uuid[], $2::text[]) as v(id, run_id)${commit}
  where e.id = v.id`;

const markStarted: Record<'durable' | 'notDurable', PreparedStatement> = {
  durable: { name: 'mark_executions_started', text: MARK_STARTED('') },
  notDurable: {
    name: 'mark_executions_started_not_durable',
    text: MARK_STARTED(`, (select ${NOT_WAITING_FOR_DISK}) as commit_setting`),
  },
};

/**
 * {@link markExecutionStarted} for many rows, in one statement, prepared once
 * per connection.
 *
 * With `durable: false` the statement commits without waiting for its WAL to
 * reach disk (`synchronous_commit` off for its own transaction only): for a
 * mark whose loss is harmless, since the run's first mirror write, or the
 * reconciler, marks the row again.
 */
export async function markExecutionsStarted(
  db: Kysely<Database>,
  started: { id: string; runId: string }[],
  { durable = true }: { durable?: boolean } = {},
): Promise<void> {
  await runPrepared(db, durable ? markStarted.durable : markStarted.notDurable, [
    started.map((s) => s.id),
    started.map((s) => s.runId),
  ]);
}
