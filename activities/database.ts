/**
 * The `db_insert` and `db_update` steps: one row inserted, or rows updated by
 * column equality, in a table the service allows (DATA_TABLES).
 *
 * Nothing a definition writes becomes SQL text: table and column names must
 * be plain identifiers, listed (tables) or found in the catalog (columns),
 * and are quoted by the query builder; every value is a query parameter.
 * Inserts go through the delivery ledger, so a retried or reset step does not
 * insert twice; updates by equality can simply run again.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { z } from 'zod';
import { poolSettings, poolWaits } from '../db/client';
import type { Config } from '../src/config';
import type { Rendered } from '../src/shared/run';
import { DELIVERY_POLICIES, type Ledger, SendFailure } from './delivery';
import { parseInput, permanent, transient } from './failures';

/** A plain SQL identifier: the only names the steps accept, for tables and columns alike. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Connections of the data pool: the steps write one statement at a time. */
const DATA_POOL_MAX = 4;
/** The longest one statement may run. @default 60 s */
const STATEMENT_TIMEOUT_MS = 60_000;

const columnValues = z.record(z.string(), z.unknown());

export const dbInsertInput = z.object({
  deliveryKey: z.string().min(1),
  table: z.string().min(1).max(127),
  values: columnValues,
  returning: z.array(z.string()).min(1).max(100).optional(),
  delivery: z.enum(DELIVERY_POLICIES).default('at-least-once'),
});

export const dbUpdateInput = z.object({
  deliveryKey: z.string().min(1),
  table: z.string().min(1).max(127),
  values: columnValues,
  where: columnValues,
  returning: z.array(z.string()).min(1).max(100).optional(),
});

export type DbInsertInput = Rendered<z.input<typeof dbInsertInput>>;
export type DbUpdateInput = Rendered<z.input<typeof dbUpdateInput>>;

export interface DbWriteResult {
  /** Rows inserted or updated. */
  rowCount: number;
  /** The `returning` columns of those rows; empty without `returning`. */
  rows: Record<string, unknown>[];
}

interface Column {
  dataType: string;
}

interface Table {
  schema: string;
  name: string;
  /** `schema.table`, for messages and the ledger. */
  qualified: string;
}

/** `table` means `public.table`. */
function qualify(name: string): Table | undefined {
  const parts = name.split('.');
  const [schema, table] = parts.length === 1 ? ['public', parts[0]] : parts;
  if (parts.length > 2 || !schema || !table || !IDENTIFIER.test(schema) || !IDENTIFIER.test(table)) return undefined;
  return { schema, name: table, qualified: `${schema}.${table}` };
}

export function createDatabaseActivities(config: Config, ledger: Ledger) {
  const allowed = new Set(config.data.tables.map((t) => qualify(t)?.qualified).filter((t): t is string => t !== undefined));

  // Opened on first use, so a worker whose steps never write data holds no connection for them.
  let data: Kysely<any> | undefined;
  const getData = () => {
    if (!data) {
      const pool = new pg.Pool({
        connectionString: config.data.url,
        max: DATA_POOL_MAX,
        // Up to WORKFLOW_QUEUE_CONCURRENCY steps share these connections: waiting for one is not failing to connect.
        ...poolWaits(pg.Client, 5_000),
        idleTimeoutMillis: poolSettings(config.database).idleTimeoutMs,
        statement_timeout: STATEMENT_TIMEOUT_MS,
        // Idle connections must not keep a stopping worker alive.
        allowExitOnIdle: true,
      });
      // An idle client losing its connection must not crash the process.
      pool.on('error', () => undefined);
      data = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    }
    return data;
  };

  /** Columns by table, read from the catalog once per table (again when a step names a column not seen yet). */
  const columnCache = new Map<string, Map<string, Column>>();

  async function readColumns(table: Table): Promise<Map<string, Column>> {
    const rows = await getData()
      .selectFrom('information_schema.columns')
      .select(['column_name', 'data_type'])
      .where('table_schema', '=', table.schema)
      .where('table_name', '=', table.name)
      .execute();
    const columns = new Map<string, Column>(rows.map((r) => [String(r.column_name), { dataType: String(r.data_type) }]));
    if (columns.size > 0) columnCache.set(table.qualified, columns);
    return columns;
  }

  /** The allowed table a step names, or a failure naming it. */
  function resolveTable(stepType: string, name: string): Table {
    if (allowed.size === 0) {
      throw permanent('ChannelNotConfigured', `${stepType} steps are not configured: list the tables they may write in DATA_TABLES`);
    }
    const table = qualify(name);
    if (!table) throw permanent('ProviderRejected', `"${name}" is not a table name (table or schema.table, letters, digits, _ and $)`);
    if (!allowed.has(table.qualified)) throw permanent('ProviderRejected', `table ${table.qualified} is not one DATA_TABLES allows`);
    return table;
  }

  /** Checks that every name is a column of the table, reading the catalog at most twice. */
  async function checkColumns(table: Table, names: string[]): Promise<Map<string, Column>> {
    for (const name of names) {
      if (!IDENTIFIER.test(name)) throw permanent('ProviderRejected', `${JSON.stringify(name)} is not a column name (letters, digits, _ and $)`);
    }
    let columns = columnCache.get(table.qualified);
    if (!columns || names.some((n) => !columns?.has(n))) columns = await catalog(table);
    if (columns.size === 0) throw permanent('ProviderRejected', `table ${table.qualified} does not exist, or the database user cannot see its columns`);
    const unknown = names.filter((n) => !columns.has(n));
    if (unknown.length > 0) {
      throw permanent('ProviderRejected', `table ${table.qualified} has no column ${unknown.map((n) => `"${n}"`).join(', ')}`);
    }
    return columns;
  }

  async function catalog(table: Table): Promise<Map<string, Column>> {
    try {
      return await readColumns(table);
    } catch (err) {
      throw classifyDbError(err, table).failure;
    }
  }

  return {
    async dbInsert(raw: DbInsertInput): Promise<DbWriteResult> {
      const input = parseInput(dbInsertInput, raw, 'db_insert', 'ProviderRejected');
      const table = resolveTable('db_insert', input.table);
      if (Object.keys(input.values).length === 0) throw permanent('ProviderRejected', 'db_insert step input is invalid: values needs at least one column');
      const columns = await checkColumns(table, [...Object.keys(input.values), ...(input.returning ?? [])]);
      const row = toParameters(input.values, columns);
      return ledger.deliver({
        key: input.deliveryKey,
        channel: 'db',
        recipient: table.qualified,
        policy: input.delivery,
        send: async () => {
          try {
            const query = getData().withSchema(table.schema).insertInto(table.name).values(row);
            const result = input.returning
              ? toResult(await query.returning(input.returning).execute())
              : { rowCount: Number((await query.executeTakeFirst()).numInsertedOrUpdatedRows ?? 0), rows: [] };
            return { result };
          } catch (err) {
            throw classifyDbError(err, table);
          }
        },
      });
    },

    async dbUpdate(raw: DbUpdateInput): Promise<DbWriteResult> {
      const input = parseInput(dbUpdateInput, raw, 'db_update', 'ProviderRejected');
      const table = resolveTable('db_update', input.table);
      if (Object.keys(input.values).length === 0) throw permanent('ProviderRejected', 'db_update step input is invalid: values needs at least one column');
      if (Object.keys(input.where).length === 0) {
        throw permanent('ProviderRejected', 'db_update step input is invalid: where needs at least one column, so no update touches every row');
      }
      const columns = await checkColumns(table, [...Object.keys(input.values), ...Object.keys(input.where), ...(input.returning ?? [])]);
      const changes = toParameters(input.values, columns);
      const match = toParameters(input.where, columns);
      try {
        let query = getData().withSchema(table.schema).updateTable(table.name).set(changes);
        for (const [column, value] of Object.entries(match)) {
          query = value === null ? query.where(column, 'is', null) : query.where(column, '=', value);
        }
        if (input.returning) return toResult(await query.returning(input.returning).execute());
        return { rowCount: Number((await query.executeTakeFirst()).numUpdatedRows), rows: [] };
      } catch (err) {
        throw classifyDbError(err, table).failure;
      }
    },
  };
}

/**
 * Values as query parameters. JSON columns get JSON text (the driver would
 * send an array as a Postgres array); other values go as they are, and
 * Postgres refuses what does not fit the column.
 */
function toParameters(values: Record<string, unknown>, columns: Map<string, Column>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).map(([column, value]) => {
      const type = columns.get(column)?.dataType;
      return [column, (type === 'json' || type === 'jsonb') && value !== null && value !== undefined ? JSON.stringify(value) : (value ?? null)];
    }),
  );
}

/** Rows as JSON would carry them (dates as ISO text), so a deduplicated answer equals the first. */
function toResult(rows: Record<string, unknown>[]): DbWriteResult {
  return { rowCount: rows.length, rows: JSON.parse(JSON.stringify(rows)) as Record<string, unknown>[] };
}

/** SQLSTATE classes a retry may overcome: connection, rollbacks (deadlock, serialization), resources, locks, operator intervention. */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '55', '57', '58']);
/** Network errors raised before the statement left: nothing was written. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * A failed statement. Constraint violations (class 23) name the constraint;
 * data, syntax and privilege errors fail for good; connection trouble is
 * retried. Messages never carry the connection URL.
 */
function classifyDbError(err: unknown, table: Table): SendFailure {
  const e = err as { code?: string; constraint?: string; message?: string };
  const sqlState = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  const message = e.message ?? String(err);
  if (sqlState) {
    const cls = sqlState.slice(0, 2);
    // The server answered: the statement failed and wrote nothing.
    if (TRANSIENT_CLASSES.has(cls)) return new SendFailure(transient('ProviderUnavailable', `${table.qualified}: ${message} (SQLSTATE ${sqlState})`), false);
    if (cls === '23') {
      const constraint = e.constraint && !message.includes(e.constraint) ? ` (constraint ${e.constraint})` : '';
      return new SendFailure(permanent('ProviderRejected', `${table.qualified}: ${message}${constraint} (SQLSTATE ${sqlState})`), false);
    }
    const type = cls === '28' || sqlState === '42501' ? 'ProviderAuthFailed' : 'ProviderRejected';
    return new SendFailure(permanent(type, `${table.qualified}: ${message} (SQLSTATE ${sqlState})`), false);
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  const notSent = (code !== undefined && NOT_SENT.has(code)) || /timeout exceeded when trying to connect|^timeout expired$/i.test(message);
  return new SendFailure(transient('ProviderUnavailable', `the database of ${table.qualified} could not be reached: ${code ?? message}`), !notSent);
}
