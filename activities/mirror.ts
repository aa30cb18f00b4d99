/** Writes the workflow's step events and status into the Postgres mirror. */
import type { Kysely } from 'kysely';
import { applyMirrorUpdate } from '../db/executions';
import type { Database } from '../db/schema';
import type { MirrorUpdate } from '../src/shared/run';
import { needsDatabase } from './failures';

export function createMirrorActivities(db: Kysely<Database>) {
  return {
    async recordRunEvents(update: MirrorUpdate): Promise<void> {
      await needsDatabase('the mirror', () => applyMirrorUpdate(db, update));
    },
  };
}
