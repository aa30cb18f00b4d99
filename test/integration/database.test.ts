/** Migrations and seeding against a real Postgres: both safe to run again. */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDefinition, updateDefinition } from '../../db/definitions';
import { createMigrator, migrateToLatest } from '../../db/migrator';
import { seedTemplates } from '../../db/seed';
import { loadTemplates } from '../../src/templates';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ worker: false });
});

afterAll(async () => {
  await h?.close();
});

describe('migrations', () => {
  it('are idempotent and create the indexes the deployment guide lists', async () => {
    const again = await migrateToLatest(h.db);
    expect(again.results).toEqual([]);
    const indexes = await sql<{ indexname: string }>`select indexname from pg_indexes where schemaname = 'public'`.execute(h.db);
    const names = indexes.rows.map((r) => r.indexname);
    for (const index of [
      'idx_workflow_enabled',
      'idx_workflow_category',
      'idx_workflow_created_by',
      'idx_execution_workflow_id',
      'idx_execution_status',
      'idx_execution_started_at',
      'idx_log_execution_id',
      'idx_log_timestamp',
    ]) {
      expect(names).toContain(index);
    }
  });

  it('roll back one step at a time and forward again', async () => {
    const migrator = createMigrator(h.db);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    expect(down.results?.[0]?.direction).toBe('Down');
    const up = await migrateToLatest(h.db);
    expect(up.results?.map((r) => r.migrationName)).toEqual([down.results?.[0]?.migrationName]);
  });
});

describe('seeding', () => {
  it('installs every template once, and keeps a definition an admin edited', async () => {
    const templates = await loadTemplates();
    const first = await seedTemplates(h.db, templates);
    expect(first.created).toHaveLength(16);
    const second = await seedTemplates(h.db, templates);
    expect(second).toMatchObject({ created: [], updated: [], kept: [] });
    expect(second.unchanged).toHaveLength(16);

    const welcome = templates.find((t) => t.key === 'welcome-email')!;
    const row = await findDefinition(h.db, 'welcome-email');
    await updateDefinition(h.db, row!.id, { ...welcome.definition, name: 'Our own welcome' }, 'admin@example.test');
    const changed = templates.map((t) => (t.key === 'welcome-email' ? { ...t, definition: { ...t.definition, description: 'new text' } } : t));
    const third = await seedTemplates(h.db, changed);
    expect(third.kept).toEqual(['welcome-email']);
    expect((await findDefinition(h.db, 'welcome-email'))?.name).toBe('Our own welcome');
  });
});
