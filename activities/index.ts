/**
 * Every activity, built from its dependencies. The workflow imports only the
 * type: `proxyActivities<ReturnType<typeof createActivities>>`. Adding a
 * channel adds one line here.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';
import { createEmailActivities } from './email';
import { createMirrorActivities } from './mirror';
import { createSlackActivities } from './slack';

export interface ActivityDeps {
  config: Config;
  db: Kysely<Database>;
}

export function createActivities({ config, db }: ActivityDeps) {
  return {
    ...createEmailActivities(config),
    ...createSlackActivities(config),
    ...createMirrorActivities(db),
  };
}
