/**
 * Connections (`/api/connections`): named, typed credentials that steps name.
 * Admins create, update, test and delete them; viewers and operators read
 * names, types, settings and where each is used, and of secrets only whether
 * each is set, with a fingerprint. What a change does is src/connections/.
 */
import type { Response, Router } from 'express';
import { z } from 'zod';
import { findConnection, listConnections } from '../../../db/connections';
import { CONNECTION_TYPE_NAMES, CONNECTION_TYPES, type ConnectionType } from '../../../channels/connections';
import { CONNECTION_NAME } from '../../../channels/connection';
import { checkConnection } from '../../connections/check';
import { ConnectionUnreadable } from '../../connections/envelope';
import { openAnyConnection } from '../../connections/resolver';
import {
  ConnectionRefused,
  connectionInput,
  connectionView,
  createConnection,
  deleteConnection,
  updateConnection,
  type ConnectionView,
} from '../../connections/service';
import { connectionUses, type ConnectionUse } from '../../connections/usage';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, LOCATION, named, type Operations, time } from '../operations';
import { HttpProblem, jsonPath } from '../problem';
import { parseRequest } from '../validate';
import { actorOf } from './recovery';

const connectionNameField = z
  .string({ error: 'is required' })
  .regex(CONNECTION_NAME, 'must be lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit (at most 100)');

export const createConnectionBody = named(
  'CreateConnectionRequest',
  connectionInput.extend({
    name: connectionNameField,
    type: z.enum(CONNECTION_TYPE_NAMES, { error: `must be one of ${CONNECTION_TYPE_NAMES.join(', ')}` }),
  }),
);

export const updateConnectionBody = named('UpdateConnectionRequest', connectionInput);

/** `DELETE /api/connections/:name?force=true` deletes one that definitions name. */
export const deleteConnectionQuery = z
  .object({ force: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true').default(false) })
  .strict();

const useSchema = z.object({
  definition: z.string().meta({ description: "the definition's key" }),
  version: z.int().meta({ description: 'its current version' }),
  step: z.string().meta({ description: "the JSON path of the step's `connection` field" }),
});

const connectionSchema = named(
  'Connection',
  z.object({
    name: z.string(),
    type: z.enum(CONNECTION_TYPE_NAMES),
    version: z.int().meta({ description: '1 when created, one more at each update' }),
    settings: z.record(z.string(), z.unknown()).meta({ description: "the type's non-secret fields, as written" }),
    secrets: z
      .record(z.string(), z.object({ set: z.boolean(), fingerprint: z.string().optional() }))
      .meta({ description: 'each secret field of the type: whether it is set, and a fingerprint to tell values apart; never the value' }),
    usedBy: z.array(useSchema).meta({ description: 'the definitions whose current version names it' }),
    createdBy: z.string(),
    createdAt: time,
    updatedBy: z.string(),
    updatedAt: time,
  }),
);
/** A connection as the API answers it. */
export type ConnectionAnswer = Built<typeof connectionSchema>;
/** The check's answer. */
export type ConnectionCheckAnswer = Built<typeof connectionCheckSchema>;

const connectionListSchema = named('ConnectionList', z.object({ items: z.array(connectionSchema) }));
const connectionCheckSchema = named(
  'ConnectionCheck',
  z.object({
    name: z.string(),
    version: z.int(),
    checked: z.boolean().meta({ description: 'false when the provider allows no check without sending' }),
    ok: z.boolean().nullable().meta({ description: 'whether the check passed; null when nothing was checked' }),
    detail: z.string(),
  }),
);

const fieldSchema = z.object({
  name: z.string(),
  kind: z.enum(['string', 'integer', 'number', 'boolean', 'enum', 'json']).meta({ description: '`json`: an object or list, written as JSON' }),
  required: z.boolean(),
  options: z.array(z.string()).optional().meta({ description: 'the values an `enum` field takes' }),
  default: z.unknown().optional(),
  description: z.string().optional().meta({ description: 'what the field means, and what leaving it out does' }),
  example: z.unknown().optional().meta({ description: 'a value of the field, as it is written' }),
});
const connectionTypeListSchema = named(
  'ConnectionTypeList',
  z.object({
    items: z.array(
      z.object({
        type: z.enum(CONNECTION_TYPE_NAMES),
        label: z.string(),
        step: z.string().meta({ description: 'the step type whose steps may name a connection of this type' }),
        checkable: z.boolean().meta({ description: 'whether `POST /api/connections/:name/test` can check it without sending' }),
        settings: z.array(fieldSchema),
        secrets: z.array(fieldSchema),
      }),
    ),
  }),
);

type FieldView = Built<typeof fieldSchema>;

/** A type's fields as a form shows them, from their zod schema's JSON Schema. */
function fieldViews(shape: z.ZodRawShape): FieldView[] {
  const schema = z.toJSONSchema(z.object(shape), { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string; enum?: unknown[]; default?: unknown; description?: string; examples?: unknown[] }>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, p]): FieldView => {
    const kind = p.enum ? 'enum' : p.type === 'string' || p.type === 'integer' || p.type === 'number' || p.type === 'boolean' ? p.type : 'json';
    return {
      name,
      kind,
      required: schema.required?.includes(name) ?? false,
      ...(p.enum ? { options: p.enum.map(String) } : {}),
      ...(p.default !== undefined ? { default: p.default } : {}),
      ...(p.description !== undefined ? { description: p.description } : {}),
      ...(p.examples?.length ? { example: p.examples[0] } : {}),
    };
  });
}

/** Every connection type with its fields: what the console's form asks for. */
export function connectionTypeViews(): Built<typeof connectionTypeListSchema> {
  return {
    items: CONNECTION_TYPE_NAMES.map((type: ConnectionType) => {
      const declaration = CONNECTION_TYPES[type];
      return { type, label: declaration.label, step: declaration.step, checkable: declaration.checkable, settings: fieldViews(declaration.settings), secrets: fieldViews(declaration.secrets) };
    }),
  };
}

const NAME = { description: "the connection's name" };

export const connectionOperations = {
  'GET /api/connection-types': {
    tag: 'Connections',
    summary: 'The connection types and their fields: settings, and secrets (write-only)',
    access: 'viewer',
    answers: { 200: { description: 'every type, with the step type that uses it', schema: connectionTypeListSchema } },
  },
  'GET /api/connections': {
    tag: 'Connections',
    summary: 'List connections: names, types, settings, where each is used; secrets only as set or not',
    access: 'viewer',
    answers: { 200: { description: 'every connection, by name', schema: connectionListSchema } },
  },
  'POST /api/connections': {
    tag: 'Connections',
    summary: 'Create a connection',
    description: 'Secrets are sealed at rest (envelope encryption under CONNECTION_KEYS) and never answered. Recorded in the audit log.',
    access: 'admin',
    body: {
      schema: createConnectionBody,
      description: 'the name steps will use, the type, its settings and its secrets',
      example: { name: 'ops-teams', type: 'teams', settings: {}, secrets: { webhookUrl: 'https://example.webhook.office.com/workflows/…' } },
    },
    answers: { 201: { description: 'the connection, without its secrets', schema: connectionSchema, headers: LOCATION } },
    problems: ['validation_failed', 'connection_name_taken', 'connection_keys_missing'],
  },
  'GET /api/connections/:name': {
    tag: 'Connections',
    summary: 'Read a connection, without its secrets',
    access: 'viewer',
    params: { name: NAME },
    answers: { 200: { description: 'the connection', schema: connectionSchema } },
    problems: ['not_found'],
  },
  'PUT /api/connections/:name': {
    tag: 'Connections',
    summary: 'Update a connection (a new version): replace its settings; replace, keep or clear each secret',
    description:
      'The settings sent replace the old ones. A secret sent replaces its value, `null` clears it, and one left out keeps its value, so a token is rotated by sending it alone with the settings. Steps use the new version from their next attempt, with no restart. Recorded in the audit log.',
    access: 'admin',
    params: { name: NAME },
    body: { schema: updateConnectionBody, description: 'the settings, and the secrets that change', example: { settings: {}, secrets: { webhookUrl: 'https://example.webhook.office.com/workflows/…' } } },
    answers: { 200: { description: 'the connection, without its secrets', schema: connectionSchema } },
    problems: ['validation_failed', 'not_found', 'connection_changed', 'connection_keys_missing', 'connection_unreadable'],
  },
  'DELETE /api/connections/:name': {
    tag: 'Connections',
    summary: 'Delete a connection, unless a current definition version names it',
    description: 'With `?force=true`, deleted even so: steps naming it then fail with `ChannelNotConfigured`. Recorded in the audit log.',
    access: 'admin',
    params: { name: NAME },
    query: { schema: deleteConnectionQuery, docs: { force: { description: 'delete even while definitions name it' } } },
    answers: { 204: { description: 'deleted', empty: true } },
    problems: ['validation_failed', 'not_found', 'connection_in_use'],
  },
  'POST /api/connections/:name/test': {
    tag: 'Connections',
    summary: 'Check a connection without sending anything',
    description:
      'SMTP: connect and log in (`verify`); Slack with a bot token: `auth.test`; Twilio: fetch the account. A Teams webhook, an incoming Slack webhook, PagerDuty and HTTP APIs cannot be checked without sending: the answer says so (`checked: false`).',
    access: 'admin',
    params: { name: NAME },
    answers: { 200: { description: 'what was checked and what it found', schema: connectionCheckSchema } },
    problems: ['not_found', 'connection_keys_missing', 'connection_unreadable'],
  },
} satisfies Operations;

function answer(view: ConnectionView, uses: ConnectionUse[]): Built<typeof connectionSchema> {
  return { ...view, type: view.type as Built<typeof connectionSchema>['type'], usedBy: uses.map((u) => ({ ...u, step: jsonPath(u.step) })) };
}

/** A refusal of src/connections as the API's problem. */
function problemOf(err: unknown): unknown {
  if (err instanceof ConnectionUnreadable) return new HttpProblem('connection_unreadable', err.message);
  if (!(err instanceof ConnectionRefused)) return err;
  const fields = err.fields.map((f) => ({ path: jsonPath(['body', ...f.path]), message: f.message }));
  const usedBy = err.uses.map((u) => ({ path: jsonPath(u.step), message: `${u.definition} v${u.version} names it` }));
  return new HttpProblem(err.code, err.message, fields.length > 0 ? fields : usedBy);
}

function noStore(res: Response): Response {
  return res.set('Cache-Control', 'no-store');
}

export function connectionRoutes({ db, config }: RouteDeps): Router {
  const { router, serve } = declaredRouter(connectionOperations);
  const deps = { db, keys: config.connectionKeys };

  const types = connectionTypeViews();
  serve('GET /api/connection-types', (_req, res) => {
    res.json(types);
  });

  serve('GET /api/connections', async (_req, res) => {
    const [rows, uses] = await Promise.all([listConnections(db), connectionUses(db)]);
    noStore(res).json({ items: rows.map((row) => answer(connectionView(row), uses.get(row.name) ?? [])) });
  });

  serve('POST /api/connections', async (req, res) => {
    const body = parseRequest(createConnectionBody, req.body ?? {}, 'body');
    const view = await createConnection(deps, body, actorOf(res)).catch((err: unknown) => {
      throw problemOf(err);
    });
    noStore(res).status(201).location(`/api/connections/${view.name}`).json(answer(view, []));
  });

  serve('GET /api/connections/:name', async (req, res) => {
    const row = await findConnection(db, req.params.name);
    if (!row) throw new HttpProblem('not_found', `no connection is named "${req.params.name}"`);
    noStore(res).json(answer(connectionView(row), (await connectionUses(db)).get(row.name) ?? []));
  });

  serve('PUT /api/connections/:name', async (req, res) => {
    const body = parseRequest(updateConnectionBody, req.body ?? {}, 'body');
    const view = await updateConnection(deps, req.params.name, body, actorOf(res)).catch((err: unknown) => {
      throw problemOf(err);
    });
    noStore(res).json(answer(view, (await connectionUses(db)).get(view.name) ?? []));
  });

  serve('DELETE /api/connections/:name', async (req, res) => {
    const query = parseRequest(deleteConnectionQuery, req.query, 'query');
    await deleteConnection(deps, req.params.name, query.force, actorOf(res)).catch((err: unknown) => {
      throw problemOf(err);
    });
    res.status(204).end();
  });

  serve('POST /api/connections/:name/test', async (req, res) => {
    if (!(await findConnection(db, req.params.name))) throw new HttpProblem('not_found', `no connection is named "${req.params.name}"`);
    if (!config.connectionKeys) throw problemOf(new ConnectionRefused('connection_keys_missing', 'connections need a master key: set CONNECTION_KEYS on every gateway and worker'));
    const opened = await openAnyConnection(db, config.connectionKeys, req.params.name).catch((err: unknown) => {
      throw problemOf(err);
    });
    if (!opened) throw new HttpProblem('not_found', `no connection is named "${req.params.name}"`);
    const check = await checkConnection(opened);
    const result: Built<typeof connectionCheckSchema> = { name: opened.name, version: opened.version, ...check };
    noStore(res).json(result);
  });

  return router;
}
