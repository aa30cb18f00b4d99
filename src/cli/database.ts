/**
 * `npm run migrate`, `npm run migrate:down`, `npm run db:seed`.
 * Reads DATABASE_URL like the services do.
 */
import { loadConfigOrExit, redactUrl } from '../config';
import { loadTemplates } from '../templates';
import { createDb } from '../../db/client';
import { createMigrator, migrateToLatest } from '../../db/migrator';
import { seedTemplates } from '../../db/seed';

const command = process.argv[2];
const config = loadConfigOrExit();
const db = createDb({ url: config.database.url, poolMax: 2 });

async function main(): Promise<void> {
  console.log(`database: ${redactUrl(config.database.url)}`);
  switch (command) {
    case 'migrate': {
      const { results = [] } = await migrateToLatest(db);
      if (results.length === 0) console.log('schema is up to date; nothing to apply');
      for (const r of results) console.log(`${r.status === 'Success' ? 'applied' : r.status}: ${r.migrationName}`);
      break;
    }
    case 'down': {
      const { results = [], error } = await createMigrator(db).migrateDown();
      if (error) throw error;
      if (results.length === 0) console.log('no migration to undo');
      for (const r of results) console.log(`${r.status === 'Success' ? 'reverted' : r.status}: ${r.migrationName}`);
      break;
    }
    case 'seed': {
      await migrateToLatest(db);
      const result = await seedTemplates(db, await loadTemplates());
      console.log(
        `templates: ${result.created.length} created, ${result.updated.length} updated, ${result.unchanged.length} unchanged, ${result.kept.length} kept (edited or deleted by an admin)`,
      );
      break;
    }
    default:
      console.error('usage: tsx src/cli/database.ts <migrate|down|seed>');
      process.exitCode = 2;
  }
}

main()
  .catch((err: unknown) => {
    console.error(`failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error('Check that Postgres is running and DATABASE_URL points at it.');
    process.exitCode = 1;
  })
  .finally(() => db.destroy());
