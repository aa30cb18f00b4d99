/** API keys (`/api/keys`): admins create, list and revoke them. */
import { Router } from 'express';
import { z } from 'zod';
import { type ApiKeyRecord, createApiKey, listApiKeys, revokeApiKey } from '../../../db/api-keys';
import { ROLES } from '../../shared/roles';
import { requireRole } from '../auth';
import type { RouteDeps } from '../context';
import { HttpProblem } from '../problem';
import { parseRequest } from '../validate';

export const createBody = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
    role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
  })
  .strict();

export function publicApiKey(record: ApiKeyRecord) {
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
  const router = Router();

  router.post('/api/keys', requireRole('admin'), async (req, res) => {
    const body = parseRequest(createBody, req.body ?? {}, 'body');
    const { record, key } = await createApiKey(db, { name: body.name, role: body.role });
    // The only time the key is shown: keep it out of every cache.
    res.status(201).set('Cache-Control', 'no-store').json({ ...publicApiKey(record), key });
  });

  router.get('/api/keys', requireRole('admin'), async (_req, res) => {
    const keys = await listApiKeys(db);
    res.json({ items: keys.map(publicApiKey) });
  });

  router.delete('/api/keys/:id', requireRole('admin'), async (req, res) => {
    const revoked = await revokeApiKey(db, req.params.id);
    lookups.forget('api_keys');
    if (!revoked) throw new HttpProblem('not_found', `no API key has id "${req.params.id}"`);
    res.status(204).end();
  });

  return router;
}
