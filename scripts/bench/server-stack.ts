/**
 * What the drills on the production topology (`outage`, `deploy`) stand on: a
 * Postgres of the benchmark's own (scripts/lib/controlled-postgres.ts, never
 * the machine's shared one, so a drill may stop it) holding the product's
 * database, migrated, and the Temporal server's two; the Temporal server on
 * it with its namespace and the product's search attributes; a client of it;
 * and an admin API key of the product.
 */
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { createApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import type { Database } from '../../db/schema';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { type ControlledPostgres, startControlledPostgres } from '../lib/controlled-postgres';
import { ensureDatabase } from '../lib/postgres';
import type { Say } from '../lib/temporal';
import {
  ensureNamespace,
  findOrBuildTemporalServer,
  freeServerPort,
  setupTemporalDatabases,
  startTemporalServer,
  type TemporalServer,
} from '../lib/temporal-server';

export interface ServerStack {
  pg: ControlledPostgres;
  /** The product's database on {@link pg}. */
  productUrl: string;
  db: Kysely<Database>;
  /** An admin key of the product, for its gateway. */
  apiKey: string;
  server: TemporalServer;
  client: Client;
}

export interface ServerStackOptions {
  say: Say;
  /** Where the server keeps its files. */
  scratch: string;
  /** What to stop afterwards, last first: each part started is pushed as it starts. */
  stops: (() => Promise<unknown>)[];
  /** The API key's name. */
  keyName: string;
  /** Where the server's output goes. @default nowhere */
  onOutput?: (text: string) => void;
}

export async function startServerStack({ say, scratch, stops, keyName, onOutput }: ServerStackOptions): Promise<ServerStack> {
  const pg = await startControlledPostgres({ maxConnections: 200 });
  stops.push(() => pg.destroy());
  const url = new URL(pg.url);
  url.pathname = '/workflows';
  const productUrl = url.toString();
  await ensureDatabase(productUrl);
  const db = createDb({ url: productUrl, poolMax: 2 });
  stops.push(() => db.destroy());
  await migrateToLatest(db);
  const { key: apiKey } = await createApiKey(db, { name: keyName, role: 'admin' });
  say(`Postgres of its own at ${pg.url} (pid ${pg.pid})`);

  const binaries = await findOrBuildTemporalServer(say);
  await setupTemporalDatabases(binaries, { postgresUrl: pg.url }, say);
  const server = await startTemporalServer(
    binaries,
    { postgresUrl: pg.url, port: await freeServerPort(), dataDir: join(scratch, 'temporal'), ...(onOutput ? { onOutput } : {}) },
    say,
  );
  stops.push(() => server.stop());
  await ensureNamespace(server.address, 'default', 1, say);
  const connection = await Connection.connect({ address: server.address });
  stops.push(() => connection.close());
  await ensureSearchAttributes(connection, 'default');
  return { pg, productUrl, db, apiKey, server, client: new Client({ connection, namespace: 'default' }) };
}

/** Calls the gateway at `gateway` with `apiKey`: the answer's status and its JSON body (undefined when not JSON). */
export function gatewayApi(gateway: string, apiKey: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gateway}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  };
}
