/** Definitions and their immutable version history. */
import { type Kysely, sql } from 'kysely';
import type { Definition } from '../src/shared/definition';
import { parseDuration } from '../src/shared/duration';
import type { Database, DefinitionRow, DefinitionVersionRow } from './schema';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DefinitionFilter {
  category?: string | undefined;
  enabled?: boolean | undefined;
  text?: string | undefined;
  limit: number;
  offset: number;
}

/** A version's declared SLA in milliseconds, kept beside its document for the reports to join on. */
function slaMs(document: Definition): number | null {
  return document.sla === undefined ? null : (parseDuration(document.sla) ?? null);
}

/** Creates a definition at version 1. */
export async function createDefinition(
  db: Kysely<Database>,
  document: Definition,
  createdBy: string | null = null,
): Promise<DefinitionRow> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('workflow_definitions')
      .values({
        key: document.key,
        name: document.name,
        description: document.description,
        category: document.category,
        enabled: document.enabled,
        template_key: document.templateKey ?? null,
        trigger_type: document.trigger.type,
        current_version: 1,
        created_by: createdBy,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('workflow_definition_versions')
      .values({ definition_id: row.id, version: 1, document: JSON.stringify(document), sla_ms: slaMs(document), created_by: createdBy })
      .execute();
    return row;
  });
}

/**
 * Saves a new version; earlier versions stay as they were, so runs pinned to
 * them keep running what they started with. The key cannot change.
 */
export async function updateDefinition(
  db: Kysely<Database>,
  id: string,
  document: Definition,
  createdBy: string | null = null,
): Promise<DefinitionRow | undefined> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('workflow_definitions')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!current) return undefined;
    const version = current.current_version + 1;
    await trx
      .insertInto('workflow_definition_versions')
      .values({ definition_id: id, version, document: JSON.stringify({ ...document, key: current.key }), sla_ms: slaMs(document), created_by: createdBy })
      .execute();
    return trx
      .updateTable('workflow_definitions')
      .set({
        name: document.name,
        description: document.description,
        category: document.category,
        enabled: document.enabled,
        template_key: document.templateKey ?? null,
        trigger_type: document.trigger.type,
        current_version: version,
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/**
 * Looks a definition up by its id or its key. Deleted definitions are not
 * found unless `includeDeleted` (reports on their runs, a key check).
 */
export async function findDefinition(
  db: Kysely<Database>,
  idOrKey: string,
  { includeDeleted = false }: { includeDeleted?: boolean } = {},
): Promise<DefinitionRow | undefined> {
  let query = db
    .selectFrom('workflow_definitions')
    .selectAll()
    .where(UUID.test(idOrKey) ? 'id' : 'key', '=', idOrKey);
  if (!includeDeleted) query = query.where('deleted_at', 'is', null);
  return query.executeTakeFirst();
}

/**
 * Marks a definition deleted (and disabled, so nothing that still holds its
 * row starts it). Its versions and its runs stay. Answers the row as deleted,
 * or undefined when it was already deleted or never existed.
 */
export async function markDefinitionDeleted(db: Kysely<Database>, id: string): Promise<DefinitionRow | undefined> {
  return db
    .updateTable('workflow_definitions')
    .set({ deleted_at: sql<Date>`now()`, enabled: false, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export async function getDefinitionVersion(
  db: Kysely<Database>,
  definitionId: string,
  version: number,
): Promise<DefinitionVersionRow | undefined> {
  return db
    .selectFrom('workflow_definition_versions')
    .selectAll()
    .where('definition_id', '=', definitionId)
    .where('version', '=', version)
    .executeTakeFirst();
}

export async function listDefinitionVersions(
  db: Kysely<Database>,
  definitionId: string,
): Promise<Pick<DefinitionVersionRow, 'version' | 'created_at' | 'created_by'>[]> {
  return db
    .selectFrom('workflow_definition_versions')
    .select(['version', 'created_at', 'created_by'])
    .where('definition_id', '=', definitionId)
    .orderBy('version', 'desc')
    .execute();
}

export async function listDefinitions(
  db: Kysely<Database>,
  filter: DefinitionFilter,
): Promise<{ items: DefinitionRow[]; total: number }> {
  let query = db.selectFrom('workflow_definitions').where('deleted_at', 'is', null);
  if (filter.category !== undefined) query = query.where('category', '=', filter.category);
  if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
  if (filter.text !== undefined) {
    const pattern = `%${filter.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) => eb.or([eb('name', 'ilike', pattern), eb('key', 'ilike', pattern), eb('description', 'ilike', pattern)]));
  }
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('name').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}
