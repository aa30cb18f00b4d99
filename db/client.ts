import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

// BIGINT ids and counts arrive as strings by default; ours fit a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** The pool behind each handle {@link createDb} made, for {@link runPrepared}. */
const pools = new WeakMap<Kysely<Database>, pg.Pool>();

export interface DbOptions {
  url: string;
  /** Connections in the pool. @default 10 */
  poolMax?: number;
}

export function createDb({ url, poolMax = 10 }: DbOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/**
 * A statement of fixed text for the hottest writes: Postgres parses and plans
 * it once per connection, and nothing is built per call. Its name must be
 * unique to its text.
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

/**
 * Runs `statement` with `values` as a named prepared statement on a
 * connection of `db`'s pool. On a handle {@link createDb} did not make (a
 * transaction, say) it runs as a plain statement on that handle, inside its
 * transaction.
 */
export async function runPrepared<R extends object>(db: Kysely<Database>, statement: PreparedStatement, values: unknown[]): Promise<R[]> {
  const pool = pools.get(db);
  if (pool) return (await pool.query<R>({ name: statement.name, text: statement.text, values })).rows;
  return (await db.executeQuery<R>(CompiledQuery.raw(statement.text, values))).rows;
}
