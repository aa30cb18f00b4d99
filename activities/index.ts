/**
 * Every activity, built from its dependencies. The workflow imports only the
 * type: `proxyActivities<ReturnType<typeof createActivities>>`. The
 * notification channels' send activities come from their registry
 * (channels/senders.ts).
 */
import type { Kysely } from 'kysely';
import type { ChangeFeed } from '../db/change-feed';
import type { Database } from '../db/schema';
import { createChannelActivities } from '../channels/senders';
import { createConnectionResolver } from '../src/connections/resolver';
import type { Config } from '../src/config';
import { createCallActivities } from './calls';
import { createChannelSettings } from './connections';
import { createDatabaseActivities } from './database';
import { createLedger } from './delivery';
import { createExpressionActivities } from './expressions';
import { createHttpActivities } from './http';
import { createMirrorActivities } from './mirror';
import { createOutbox } from './outbox';
import { createPacer } from './pacing';
import { createRecoveryActivities } from './recovery';
import { createRetentionActivities } from './retention';

export interface ActivityDeps {
  config: Config;
  db: Kysely<Database>;
  /** Postgres's change notices, so opened connections are kept until one changes; without them each send reads its connection. */
  changes?: ChangeFeed | undefined;
}

export function createActivities({ config, db, changes }: ActivityDeps) {
  const ledger = createLedger(db);
  const outbox = createOutbox(config, db);
  const settings = createChannelSettings(config, createConnectionResolver({ db, keys: config.connectionKeys, changes }));
  const pacer = createPacer(config, db, (channel, connection) => settings.pacing(channel, connection));
  return {
    /** The ledger write a message step owes when Postgres was away as its message went out. */
    recordDelivery: ledger.recordSent,
    ...createChannelActivities(config, ledger, outbox, pacer, settings),
    ...createHttpActivities(config, settings),
    ...createDatabaseActivities(config, ledger),
    ...createMirrorActivities(db),
    ...createCallActivities(db, config),
    ...createRecoveryActivities(config, db),
    ...createRetentionActivities(config, db),
    ...createExpressionActivities(),
  };
}
