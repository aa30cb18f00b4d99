import type { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import type { Config } from '../config';
import type { Logger } from '../logger';

/** What the gateway's routes need, handed in so tests can build an app on their own resources. */
export interface GatewayDeps {
  config: Config;
  db: Kysely<Database>;
  temporal: { connection: Connection; client: Client };
  logger: Logger;
}
