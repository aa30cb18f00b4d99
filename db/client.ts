import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

// BIGINT ids and counts arrive as strings by default; ours fit a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** The pool behind each handle {@link createDb} made, for {@link runPrepared}. */
const pools = new WeakMap<Kysely<Database>, pg.Pool>();

/** Where a handle reports that Postgres went away and came back: one line each way, not one per failed query. */
export interface OutageLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface DbOptions {
  url: string;
  /** Connections in the pool. @default 10 */
  poolMax?: number;
  /** How long making one connection may take before Postgres counts as out of reach, ms. @default 5000 */
  connectTimeoutMs?: number;
  /** How long a connection may sit idle in the pool before it is closed, ms. @default 30000 */
  idleTimeoutMs?: number;
  /** Told once when Postgres becomes unreachable and once when it answers again. */
  logger?: OutageLogger | undefined;
}

/**
 * Errors that say Postgres itself is out of reach (refused, reset, shut down,
 * in recovery, out of connections), not that a statement was wrong: the
 * caller may wait and try the same thing again.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // admin_shutdown, crash_shutdown, cannot_connect_now (starting, or a standby being promoted)
  '57P01',
  '57P02',
  '57P03',
  // too_many_connections, read_only_sql_transaction (a failover left us on the old primary, now a standby)
  '53300',
  '25006',
]);
const UNAVAILABLE_MESSAGES = /connection terminated|timeout exceeded when trying to connect|timeout expired|not queryable|connection ended|the database system is (starting up|shutting down|in recovery mode)/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  const { code, message, type } = (err ?? {}) as { code?: unknown; message?: unknown; type?: unknown };
  // What an activity throws for it (activities/failures.ts, needsDatabase).
  if (type === 'DatabaseUnavailable') return true;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  // A connection that could not be made at all may come as an AggregateError (one per address tried).
  if (err instanceof AggregateError) return err.errors.some(isDatabaseUnavailable);
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** A pool connection that knows when the pool began making it. */
class TimedClient extends pg.Client {
  readonly begunAt = Date.now();
}

/**
 * How long a statement may wait for one of the pool's connections while all
 * are in use. pg-pool's one `connectionTimeoutMillis` bounds both this wait
 * and the making of a connection, so a pool busy with many steps' statements
 * (a worker runs up to `WORKFLOW_QUEUE_CONCURRENCY` activities on
 * `DATABASE_POOL_MAX` connections) would fail them as if Postgres were out of
 * reach. The pool waits this long; each connection's own timeout
 * (`connectTimeoutMs`) still tells an unreachable Postgres in seconds.
 */
const POOL_WAIT_MS = 30_000;

/**
 * A pool's two waits told apart: its `Client` (a subclass of `Client`) gives
 * up connecting after `connectTimeoutMs`, and a statement waits for a busy
 * pool up to {@link POOL_WAIT_MS}. Spread into `pg.Pool`'s options.
 */
export function poolWaits(Client: typeof pg.Client, connectTimeoutMs: number): Pick<pg.PoolConfig, 'Client' | 'connectionTimeoutMillis'> {
  return {
    Client: class extends Client {
      constructor(config?: pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
      }
    },
    connectionTimeoutMillis: Math.max(POOL_WAIT_MS, connectTimeoutMs),
  };
}

/** When the pool began making `client` (a {@link TimedClient}). */
const begunAt = (client: object): number => (client as Partial<TimedClient>).begunAt ?? Date.now();

/**
 * Remembers whether Postgres answered last, so an outage is logged once when
 * it begins and once when it ends, whatever the pool's connections were doing
 * as it did: a connection begun before the outage was noticed that completes
 * after does not end it, and a connection made before Postgres came back that
 * fails afterwards (cut by the outage, found out late) does not begin another.
 */
export function outageWatch(logger: OutageLogger | undefined, now: () => number = Date.now) {
  let downSince: number | undefined;
  let backSince = -Infinity;
  return {
    connected(client: object) {
      if (downSince === undefined || begunAt(client) < downSince) return;
      logger?.info({ downForMs: now() - downSince }, 'Postgres answers again');
      downSince = undefined;
      backSince = now();
    },
    failed(err: unknown, client?: object) {
      if (downSince !== undefined || !isDatabaseUnavailable(err)) return;
      if (client && begunAt(client) < backSince) return;
      downSince = now();
      logger?.warn({ error: String((err as Error)?.message ?? err) }, 'Postgres is unreachable; steps that need it wait for it, and the gateway answers 503 database_unavailable');
    },
  };
}

/** The pool's settings from the configuration's `database` section, as the gateway and the worker open it. */
export function poolSettings(database: { url: string; poolMax: number; poolIdleTimeoutSeconds: number }): Pick<DbOptions, 'url' | 'poolMax' | 'idleTimeoutMs'> {
  return { url: database.url, poolMax: database.poolMax, idleTimeoutMs: database.poolIdleTimeoutSeconds * 1000 };
}

export function createDb({ url, poolMax = 10, connectTimeoutMs = 5_000, idleTimeoutMs = 30_000, logger }: DbOptions): Kysely<Database> {
  const pool = new pg.Pool({
    ...poolWaits(TimedClient, connectTimeoutMs),
    connectionString: url,
    max: poolMax,
    idleTimeoutMillis: idleTimeoutMs,
  });
  const watch = outageWatch(logger);
  // A connection lost while idle in the pool: the pool drops it; the process must not crash.
  pool.on('error', (err, client) => watch.failed(err, client));
  pool.on('connect', (client) => {
    watch.connected(client);
    // A connection lost while checked out but between statements (inside a transaction, or
    // just taken from the pool) is reported on the client alone: without a listener of its
    // own Node would end the process. Its next statement fails, and the pool drops it.
    client.on('error', (err) => watch.failed(err, client));
  });
  const watched = {
    async connect() {
      // An attempt begun before Postgres came back that fails after (it waited for a busy pool, or
      // connected to the Postgres going away) belongs to the outage already told, as a connection does.
      const attempt = { begunAt: Date.now() };
      try {
        return await pool.connect();
      } catch (err) {
        watch.failed(err, attempt);
        throw err;
      }
    },
    end: () => pool.end(),
  };
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: watched }) });
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
