import type { Client, Connection } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { ChangeFeed } from '../../db/change-feed';
import type { Database } from '../../db/schema';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Lookups } from './lookups';
import type { GatewayMetrics } from './metrics';
import type { RunEndings } from './run-endings';

/** What the gateway's routes need, handed in so tests can build an app on their own resources. */
export interface GatewayDeps {
  config: Config;
  db: Kysely<Database>;
  temporal: { connection: Connection; client: Client };
  logger: Logger;
  /**
   * A Redis client for rate-limit counters shared with other gateways (see
   * rate-limit-store.ts); without one, each gateway counts on its own.
   */
  redis?: Redis | undefined;
  /**
   * Notices of changed keys and definitions (db/change-feed.ts): with one, the
   * gateway keeps those rows in memory instead of reading them per request.
   */
  changes?: ChangeFeed | undefined;
  /**
   * Requests waiting for runs to end (run-endings.ts); the process ends their
   * waits as it stops. @default one of the app's own, over `db` and `changes`
   */
  runEndings?: RunEndings | undefined;
}

/** What routes receive: the app's dependencies and the metrics of the app they belong to. */
export interface RouteDeps extends GatewayDeps {
  metrics: GatewayMetrics;
  /** Keys and definitions, read through the app's cache. */
  lookups: Lookups;
  runEndings: RunEndings;
}
