import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import * as initial from './migrations/2026-11-25T00-00-00_initial';
import * as apiKeys from './migrations/2026-11-25T12-00-00_api_keys';
import * as deliveries from './migrations/2026-11-25T13-00-00_deliveries';
import * as approvalDecisions from './migrations/2026-11-25T14-00-00_approval_decisions';
import * as channelPacing from './migrations/2026-11-25T16-30-00_channel_pacing';
import * as devOutbox from './migrations/2026-11-25T17-00-00_dev_outbox';
import * as definitionDeletedAt from './migrations/2026-11-25T17-10-00_definition_deleted_at';
import * as executionReplayOf from './migrations/2026-11-25T17-20-00_execution_replay_of';
import * as changeNotifications from './migrations/2026-11-26T04-00-00_change_notifications';
import * as deliveryClaimedBy from './migrations/2026-12-03T07-00-00_delivery_claimed_by';
import * as recoveryBatches from './migrations/2026-12-03T14-00-00_recovery_batches';
import * as reports from './migrations/2026-12-04T00-00-00_reports';
import * as successRateOfConcludedRuns from './migrations/2026-12-06T12-00-00_success_rate_of_concluded_runs';
import * as connections from './migrations/2026-12-06T13-00-00_connections';
import * as deliveryConnection from './migrations/2026-12-06T13-10-00_delivery_connection';
import * as unsettledExecutions from './migrations/2026-12-06T14-00-00_unsettled_executions';
import * as reportDeliveriesByConnection from './migrations/2026-12-06T15-00-00_report_deliveries_by_connection';
import * as deliveryConnectionVersion from './migrations/2026-12-06T20-30-00_delivery_connection_version';
import * as deliveryWorkflowIdPrefix from './migrations/2026-12-06T21-00-00_delivery_workflow_id_prefix';
import * as runEndedNotifications from './migrations/2026-12-07T13-00-00_run_ended_notifications';

/**
 * Migrations listed in code rather than read from the folder at run time, so
 * they work the same under tsx, vitest and a bundled build. Names sort by time.
 */
const MIGRATIONS: Record<string, Migration> = {
  '2026-11-25T00-00-00_initial': initial,
  '2026-11-25T12-00-00_api_keys': apiKeys,
  '2026-11-25T13-00-00_deliveries': deliveries,
  '2026-11-25T14-00-00_approval_decisions': approvalDecisions,
  '2026-11-25T16-30-00_channel_pacing': channelPacing,
  '2026-11-25T17-00-00_dev_outbox': devOutbox,
  '2026-11-25T17-10-00_definition_deleted_at': definitionDeletedAt,
  '2026-11-25T17-20-00_execution_replay_of': executionReplayOf,
  '2026-11-26T04-00-00_change_notifications': changeNotifications,
  '2026-12-03T07-00-00_delivery_claimed_by': deliveryClaimedBy,
  '2026-12-03T14-00-00_recovery_batches': recoveryBatches,
  '2026-12-04T00-00-00_reports': reports,
  '2026-12-06T12-00-00_success_rate_of_concluded_runs': successRateOfConcludedRuns,
  '2026-12-06T13-00-00_connections': connections,
  '2026-12-06T13-10-00_delivery_connection': deliveryConnection,
  '2026-12-06T14-00-00_unsettled_executions': unsettledExecutions,
  '2026-12-06T15-00-00_report_deliveries_by_connection': reportDeliveriesByConnection,
  '2026-12-06T20-30-00_delivery_connection_version': deliveryConnectionVersion,
  '2026-12-06T21-00-00_delivery_workflow_id_prefix': deliveryWorkflowIdPrefix,
  '2026-12-07T13-00-00_run_ended_notifications': runEndedNotifications,
};

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
}

/** Applies every pending migration; a no-op when the schema is current. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const result = await createMigrator(db).migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
