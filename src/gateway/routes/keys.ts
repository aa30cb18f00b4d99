/** API keys (`/api/keys`): admins create, list and revoke them. */
import type { Router } from 'express';
import { z } from 'zod';
import { type ApiKeyRecord, createApiKey, listApiKeys, revokeApiKey } from '../../../db/api-keys';
import { ROLES } from '../../shared/roles';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations, time, uuid } from '../operations';
import { HttpProblem } from '../problem';
import { parseRequest } from '../validate';

export const createBody = named(
  'CreateApiKeyRequest',
  z
    .object({
      name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
      role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
    })
    .strict(),
);

const apiKeySchema = named(
  'ApiKey',
  z.object({
    id: uuid,
    name: z.string(),
    role: z.enum(ROLES),
    prefix: z.string().meta({ description: 'the first 8 characters of the key, to tell keys apart' }),
    createdAt: time,
    lastUsedAt: time.nullable(),
    revokedAt: time.nullable(),
  }),
);
const apiKeyCreatedSchema = named('ApiKeyCreated', apiKeySchema.extend({ key: z.string().meta({ description: 'the key itself, shown this once' }) }));
const apiKeyListSchema = named('ApiKeyList', z.object({ items: z.array(apiKeySchema) }));

export const keyOperations = {
  'POST /api/keys': {
    tag: 'API keys',
    summary: 'Create an API key (shown once)',
    access: 'admin',
    body: { schema: createBody, description: 'the new key', example: { name: 'reporting', role: 'viewer' } },
    answers: {
      201: {
        description: 'the only answer that contains the key',
        schema: apiKeyCreatedSchema,
        headers: { 'Cache-Control': { description: '`no-store`', schema: { type: 'string' } } },
      },
    },
    problems: ['validation_failed'],
  },
  'GET /api/keys': {
    tag: 'API keys',
    summary: 'List API keys, newest first, revoked ones included',
    access: 'admin',
    answers: { 200: { description: 'every key, never the key itself or its hash', schema: apiKeyListSchema } },
  },
  'DELETE /api/keys/:id': {
    tag: 'API keys',
    summary: 'Revoke an API key',
    description: 'Requests with it are refused from now on; revoking a revoked key changes nothing.',
    access: 'admin',
    params: { id: { description: "the key's id" } },
    answers: { 204: { description: 'revoked', empty: true } },
    problems: ['not_found'],
  },
} satisfies Operations;

export function publicApiKey(record: ApiKeyRecord): Built<typeof apiKeySchema> {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    prefix: record.prefix,
    createdAt: record.created_at,
    lastUsedAt: record.last_used_at,
    revokedAt: record.revoked_at,
  };
}

export function keyRoutes({ db, lookups }: RouteDeps): Router {
  const { router, serve } = declaredRouter(keyOperations);

  serve('POST /api/keys', async (req, res) => {
    const body = parseRequest(createBody, req.body ?? {}, 'body');
    const { record, key } = await createApiKey(db, { name: body.name, role: body.role });
    // The only time the key is shown: keep it out of every cache.
    const answer: Built<typeof apiKeyCreatedSchema> = { ...publicApiKey(record), key };
    res.status(201).set('Cache-Control', 'no-store').json(answer);
  });

  serve('GET /api/keys', async (_req, res) => {
    const keys = await listApiKeys(db);
    const answer: Built<typeof apiKeyListSchema> = { items: keys.map(publicApiKey) };
    res.json(answer);
  });

  serve('DELETE /api/keys/:id', async (req, res) => {
    const revoked = await revokeApiKey(db, req.params.id);
    lookups.forget('api_keys');
    if (!revoked) throw new HttpProblem('not_found', `no API key has id "${req.params.id}"`);
    res.status(204).end();
  });

  return router;
}
