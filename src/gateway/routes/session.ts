/** `GET /api/session`: who the caller's key or token is, and its role, for a client (the console) to show what it may do. */
import type { Router } from 'express';
import { z } from 'zod';
import { ROLES } from '../../shared/roles';
import { callerOf } from '../auth';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations } from '../operations';

const sessionSchema = named('Session', z.object({ name: z.string(), role: z.enum(ROLES), kind: z.enum(['key', 'token']) }));

export const sessionOperations = {
  'GET /api/session': {
    tag: 'API keys',
    summary: 'Who the caller is, and its role',
    description: 'The name and role of the API key (or token) the request carries: a client such as the console shows only what that role may do.',
    access: 'viewer',
    answers: { 200: { description: 'the caller', schema: sessionSchema } },
    problems: [],
  },
} satisfies Operations;

export function sessionRoutes(): Router {
  const { router, serve } = declaredRouter(sessionOperations);
  serve('GET /api/session', (_req, res) => {
    const caller = callerOf(res)!;
    const answer: Built<typeof sessionSchema> = { name: caller.name, role: caller.role, kind: caller.kind };
    res.json(answer);
  });
  return router;
}
