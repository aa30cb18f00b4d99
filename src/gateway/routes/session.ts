/** `GET /api/session`: who the caller's key or token is, and its role, for a client (the console) to show what it may do. */
import { Router } from 'express';
import { callerOf, requireRole } from '../auth';

export function sessionRoutes(): Router {
  const router = Router();
  router.get('/api/session', requireRole('viewer'), (_req, res) => {
    const caller = callerOf(res)!;
    res.json({ name: caller.name, role: caller.role, kind: caller.kind });
  });
  return router;
}
