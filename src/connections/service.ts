/**
 * Connections as the API manages them: created, updated (a new version),
 * deleted, and answered without their secrets. Secret fields are write-only:
 * an update that leaves one out keeps its value, `null` clears it. Every
 * change is in the audit log, with the fields changed and the secrets'
 * fingerprints, never a secret. The SQL is db/connections.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import * as repository from '../../db/connections';
import { recordAudit } from '../../db/recovery';
import type { ConnectionRow, Database } from '../../db/schema';
import { CONNECTION_TYPES, connectionFieldsSchema, type ConnectionType, isConnectionType } from '../../channels/connections';
import type { KeyRingConfig } from '../config/key-rings';
import type { Actor } from '../executions/recover-one';
import { fingerprint, type MasterKeys, masterKeys, newDataKey, openSecrets, sealSecrets, unwrapDataKey } from './envelope';
import { connectionUses } from './usage';

/** Why a change was refused: `code` is the API's problem code, `fields` the bad ones (JSON paths from the request's body). */
export class ConnectionRefused extends Error {
  constructor(
    readonly code: 'validation_failed' | 'not_found' | 'connection_name_taken' | 'connection_in_use' | 'connection_changed' | 'connection_keys_missing',
    message: string,
    readonly fields: { path: (string | number)[]; message: string }[] = [],
    readonly uses: { definition: string; version: number; step: (string | number)[] }[] = [],
  ) {
    super(message);
    this.name = 'ConnectionRefused';
  }
}

export interface ConnectionDeps {
  db: Kysely<Database>;
  /** CONNECTION_KEYS, when set. */
  keys: KeyRingConfig | undefined;
}

/** A secret field as every reader sees it. */
export type SecretState = { set: true; fingerprint: string } | { set: false };

/** A connection as the API answers it: never a secret. */
export interface ConnectionView {
  name: string;
  type: string;
  version: number;
  settings: Record<string, unknown>;
  secrets: Record<string, SecretState>;
  createdBy: string;
  createdAt: Date;
  updatedBy: string;
  updatedAt: Date;
}

export function connectionView(row: ConnectionRow): ConnectionView {
  const declared = isConnectionType(row.type) ? Object.keys(CONNECTION_TYPES[row.type].secrets) : Object.keys(row.secret_fingerprints);
  return {
    name: row.name,
    type: row.type,
    version: row.version,
    settings: row.settings,
    secrets: Object.fromEntries(
      declared.map((field): [string, SecretState] => {
        const print = row.secret_fingerprints[field];
        return [field, print === undefined ? { set: false } : { set: true, fingerprint: print }];
      }),
    ),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at,
  };
}

/** What a create or an update sends: `type` on create; `secrets` values of null clear a field on update. */
export const connectionInput = z
  .object({
    name: z.string().optional(),
    type: z.string().optional(),
    settings: z.record(z.string(), z.unknown()).default({}),
    secrets: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ConnectionInput = z.output<typeof connectionInput>;

function keysOrRefuse(deps: ConnectionDeps): MasterKeys {
  if (!deps.keys) {
    throw new ConnectionRefused('connection_keys_missing', 'connections need a master key: set CONNECTION_KEYS (and CONNECTION_KEY_ID with several keys) on every gateway and worker');
  }
  return masterKeys(deps.keys);
}

/** The type's fields, parsed, or a refusal naming each bad one. */
function parseFields(type: ConnectionType, settings: unknown, secrets: unknown) {
  const parsed = connectionFieldsSchema(type).safeParse({ settings, secrets });
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: issue.code === 'unrecognized_keys' ? `has fields a ${type} connection does not take: ${issue.keys.join(', ')}` : issue.message,
  }));
  throw new ConnectionRefused('validation_failed', `the ${type} connection has ${fields.length} problem(s): ${fields.map((f) => `${f.path.join('.')} ${f.message}`).join('; ')}`, fields);
}

function sealed(keys: MasterKeys, name: string, dataKey: Buffer, secrets: Record<string, unknown>) {
  const set = Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== undefined));
  const seal = sealSecrets(keys, name, dataKey, set);
  return {
    secret_ciphertext: seal.ciphertext,
    data_key_wrapped: seal.wrappedKey,
    master_key_id: seal.masterKeyId,
    secret_fingerprints: JSON.stringify(Object.fromEntries(Object.entries(set).map(([field, value]) => [field, fingerprint(dataKey, value)]))),
  };
}

export async function createConnection(deps: ConnectionDeps, input: ConnectionInput & { name: string }, actor: Actor): Promise<ConnectionView> {
  if (input.type === undefined || !isConnectionType(input.type)) {
    const types = Object.keys(CONNECTION_TYPES).join(', ');
    throw new ConnectionRefused('validation_failed', `type must be one of ${types}`, [{ path: ['type'], message: `must be one of ${types}` }]);
  }
  const fields = parseFields(input.type, input.settings, input.secrets);
  // What is wrong with the request is said first; the missing key is the deployment's.
  const keys = keysOrRefuse(deps);
  const dataKey = newDataKey();
  const row = await repository.insertConnection(deps.db, {
    id: randomUUID(),
    name: input.name,
    type: input.type,
    version: 1,
    settings: JSON.stringify(fields.settings),
    ...sealed(keys, input.name, dataKey, fields.secrets),
    created_by: actor.name,
    updated_by: actor.name,
  });
  if (!row) throw new ConnectionRefused('connection_name_taken', `a connection is already named "${input.name}": update it with PUT /api/connections/${input.name}`);
  const view = connectionView(row);
  await recordAudit(deps.db, { actor, action: 'connection.create', target: `connection:${row.name}`, outcome: auditOutcome(view, Object.keys(fields.settings), Object.keys(view.secrets).filter((f) => view.secrets[f]!.set)) });
  return view;
}

/** Replaces the settings; each secret sent replaces its value, `null` clears it, one left out keeps its value. */
export async function updateConnection(deps: ConnectionDeps, name: string, input: ConnectionInput, actor: Actor): Promise<ConnectionView> {
  const row = await repository.findConnection(deps.db, name);
  if (!row) throw new ConnectionRefused('not_found', `no connection is named "${name}"`);
  if (input.type !== undefined && input.type !== row.type) {
    throw new ConnectionRefused('validation_failed', `type cannot change (it is ${row.type}): create another connection`, [{ path: ['type'], message: `cannot change (it is ${row.type})` }]);
  }
  if (input.name !== undefined && input.name !== name) {
    throw new ConnectionRefused('validation_failed', 'name cannot change: create another connection', [{ path: ['name'], message: 'cannot change' }]);
  }
  const type = row.type as ConnectionType;
  const keys = keysOrRefuse(deps);
  const dataKey = unwrapDataKey(keys, name, { wrappedKey: row.data_key_wrapped, masterKeyId: row.master_key_id });
  const current = openSecrets(keys, name, { ciphertext: row.secret_ciphertext, wrappedKey: row.data_key_wrapped, masterKeyId: row.master_key_id });
  const merged: Record<string, unknown> = { ...current };
  for (const [field, value] of Object.entries(input.secrets)) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  const fields = parseFields(type, input.settings, merged);
  const updated = await repository.updateConnection(deps.db, name, row.version, {
    settings: JSON.stringify(fields.settings),
    ...sealed(keys, name, dataKey, fields.secrets),
    updated_by: actor.name,
  });
  if (!updated) throw new ConnectionRefused('connection_changed', `connection "${name}" changed or was deleted while this update was made: read it and try again`);
  const view = connectionView(updated);
  const before = connectionView(row);
  const changedSettings = [...new Set([...Object.keys(before.settings), ...Object.keys(view.settings)])].filter(
    (f) => JSON.stringify(before.settings[f]) !== JSON.stringify(view.settings[f]),
  );
  const changedSecrets = Object.keys(view.secrets).filter((f) => JSON.stringify(before.secrets[f]) !== JSON.stringify(view.secrets[f]));
  await recordAudit(deps.db, { actor, action: 'connection.update', target: `connection:${name}`, outcome: auditOutcome(view, changedSettings, changedSecrets) });
  return view;
}

/** Deletes a connection unless the current version of a definition names it (then only with `force`). */
export async function deleteConnection(deps: ConnectionDeps, name: string, force: boolean, actor: Actor): Promise<void> {
  const row = await repository.findConnection(deps.db, name);
  if (!row) throw new ConnectionRefused('not_found', `no connection is named "${name}"`);
  const uses = (await connectionUses(deps.db)).get(name) ?? [];
  if (uses.length > 0 && !force) {
    throw new ConnectionRefused(
      'connection_in_use',
      `connection "${name}" is named by ${uses.map((u) => `${u.definition} v${u.version}`).join(', ')}: change those definitions, or delete with ?force=true (their steps will then fail)`,
      [],
      uses,
    );
  }
  if (!(await repository.deleteConnection(deps.db, name))) throw new ConnectionRefused('not_found', `no connection is named "${name}"`);
  await recordAudit(deps.db, {
    actor,
    action: 'connection.delete',
    target: `connection:${name}`,
    outcome: { type: row.type, version: row.version, forced: force, usedBy: uses.map((u) => `${u.definition} v${u.version}`) },
  });
}

/** What the audit log keeps of a change: the fields changed, settings' values, secrets' fingerprints only. */
function auditOutcome(view: ConnectionView, settings: string[], secrets: string[]) {
  return {
    type: view.type,
    version: view.version,
    settings: Object.fromEntries(settings.map((f) => [f, view.settings[f] ?? null])),
    secrets: Object.fromEntries(secrets.map((f) => [f, view.secrets[f]])),
  };
}
