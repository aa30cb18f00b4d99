/**
 * Serves a routes file's operations from their declarations: a route's method
 * and path are its operation's key, and the role its `access` names is checked
 * before its handlers run. The role is stated once, in the declaration the API
 * document is built from, so a route cannot describe one role and enforce
 * another.
 */
import { type RequestHandler, Router } from 'express';
import type { RouteParameters } from 'express-serve-static-core';
import { requireRole } from './auth';
import { type Operation, type Operations, requiredRole } from './operations';

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

/** The Express path of an operation key: `DELETE /api/keys/:id` → `/api/keys/:id`. */
type PathOf<K extends string> = K extends `${string} ${infer Path}` ? Path : never;

export interface DeclaredRouter<T extends Operations> {
  router: Router;
  /**
   * Serves the operation declared under `key` with these handlers, behind the
   * role its declaration needs (none for open, signed and open-metrics routes:
   * a signed route checks its own signature).
   */
  serve<K extends keyof T & string>(key: K, ...handlers: RequestHandler<RouteParameters<PathOf<K>>>[]): void;
}

export function declaredRouter<T extends Operations>(
  operations: T,
  /** METRICS_REQUIRE_KEY: `metrics` routes need a key of any role. @default false */
  { metricsRequireKey = false }: { metricsRequireKey?: boolean } = {},
): DeclaredRouter<T> {
  const router = Router();
  const declared: Record<string, Operation> = operations;
  return {
    router,
    serve(key, ...handlers) {
      const [method, path] = key.split(' ') as [Uppercase<Method>, string];
      const role = requiredRole(declared[key]!.access, { metricsRequireKey });
      const guard: RequestHandler[] = role ? [requireRole(role)] : [];
      router[method.toLowerCase() as Method](path, ...guard, ...(handlers as RequestHandler[]));
    },
  };
}
