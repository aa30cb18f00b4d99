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
import { createExpressionActivities } from './expressions';
import { createHttpActivities } from './http';
import { createMirrorActivities } from './mirror';
import { createOutbox } from './outbox';
import { createPacer, paced } from './pacing';
import { createRecoveryActivities } from './recovery';
import { createRetentionActivities } from './retention';
import { createSlackActivities } from './slack';
import { createSmsActivities } from './sms';
import { createTeamsActivities } from './teams';

export interface ActivityDeps {
  config: Config;
  db: Kysely<Database>;
}

export function createActivities({ config, db }: ActivityDeps) {
  const ledger = createLedger(db);
  const pacer = createPacer(config, db);
  const outbox = createOutbox(config, db);
  const email = createEmailActivities(config, ledger, outbox);
  const slack = createSlackActivities(config, ledger, outbox);
  const sms = createSmsActivities(config, ledger, outbox);
  const teams = createTeamsActivities(config, ledger, outbox);
  return {
    /** The ledger write a message step owes when Postgres was away as its message went out. */
    recordDelivery: ledger.recordSent,
    ...email,
    ...slack,
    ...sms,
    ...teams,
    // Notification sends take their channel's next slot first (PACING_*_PER_MINUTE).
    sendEmail: paced(pacer, 'email', email.sendEmail),
    sendSlack: paced(pacer, 'slack', slack.sendSlack),
    sendSms: paced(pacer, 'sms', sms.sendSms),
    sendTeams: paced(pacer, 'teams', teams.sendTeams),
    ...createHttpActivities(config),
    ...createDatabaseActivities(config, ledger),
    ...createMirrorActivities(db),
    ...createCallActivities(db, config),
    ...createRecoveryActivities(config, db),
    ...createRetentionActivities(config, db),
    ...createExpressionActivities(),
  };
}
