/** Retention as an activity, for the Temporal Schedule `npm run clean-logs -- --schedule` creates (db/retention.ts). */
import type { Kysely } from 'kysely';
import { cleanRetention, type RetentionCounts } from '../db/retention';
import type { Database } from '../db/schema';
import type { Config } from '../src/config';

export function createRetentionActivities(config: Config, db: Kysely<Database>) {
  return {
    /** Deletes what RETENTION_DAYS and RETENTION_AUDIT_DAYS no longer keep; answers the counts. */
    async cleanRetention(): Promise<RetentionCounts> {
      return cleanRetention(db, { days: config.retention.days, auditDays: config.retention.auditDays });
    },
  };
}
