/**
 * Every activity, built from its dependencies. The workflow imports only the
 * type: `proxyActivities<ReturnType<typeof createActivities>>`. Adding a
 * channel adds one line here.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import { createCallActivities } from './calls';
import { createDatabaseActivities } from './database';
import { createLedger } from './delivery';
import { createEmailActivities } from './email';
import { createHttpActivities } from './http';
import { createMirrorActivities } from './mirror';
import { createSlackActivities } from './slack';
import { createSmsActivities } from './sms';
import { createTeamsActivities } from './teams';

export interface ActivityDeps {
  config: Config;
  db: Kysely<Database>;
}

export function createActivities({ config, db }: ActivityDeps) {
  const ledger = createLedger(db);
  return {
    ...createEmailActivities(config, ledger),
    ...createSlackActivities(config, ledger),
    ...createSmsActivities(config, ledger),
    ...createTeamsActivities(config, ledger),
    ...createHttpActivities(config),
    ...createDatabaseActivities(config, ledger),
    ...createMirrorActivities(db),
    ...createCallActivities(db),
  };
}
