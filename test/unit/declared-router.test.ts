/**
 * A route served from its declaration enforces the role the declaration
 * names, the one the API document states (`requiredRole`); open, signed and
 * open-metrics routes take no key.
 */
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from '../../db/api-keys';
import type { Database } from '../../db/schema';
import type { Logger } from '../../src/logger';
import { authenticate } from '../../src/gateway/auth';
import { declaredRouter } from '../../src/gateway/declared-router';
import { type Operations, requiredRole } from '../../src/gateway/operations';
import { HttpProblem } from '../../src/gateway/problem';
import { ROLES, type Role } from '../../src/shared/roles';

const declared = (access: Operations[keyof Operations]['access']) => ({ tag: 'Probes' as const, summary: 'a route', access, answers: { 200: { description: 'ok' } } });
const operations = {
  'GET /open': declared('open'),
  'POST /hook': declared('signed'),
  'GET /metrics': declared('metrics'),
  'GET /read': declared('viewer'),
  'POST /runs/:id': declared('operator'),
  'DELETE /keys/:id': declared('admin'),
} satisfies Operations;

const keys = Object.fromEntries(ROLES.map((role) => [role, generateApiKey()])) as Record<Role, string>;
const byHash = new Map(ROLES.map((role) => [hashApiKey(keys[role]), { id: role, name: `${role} key`, role }]));

function app({ metricsRequireKey }: { metricsRequireKey: boolean }) {
  const a = express();
  const quiet = { warn: () => {} } as unknown as Logger;
  const lookups = { activeKey: async (hash: string) => byHash.get(hash) as never, definition: async () => undefined, forget: () => {} };
  a.use(authenticate({ db: {} as Kysely<Database>, lookups, logger: quiet }));
  const { router, serve } = declaredRouter(operations, { metricsRequireKey });
  for (const key of Object.keys(operations) as (keyof typeof operations)[]) {
    serve(key, (req, res) => {
      res.json({ params: req.params });
    });
  }
  a.use(router);
  const problems: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(err instanceof HttpProblem ? err.status : 500).json({ code: (err as HttpProblem).code });
  };
  a.use(problems);
  return a;
}

const servers: { close(): void }[] = [];
async function listen(metricsRequireKey: boolean): Promise<string> {
  const server = app({ metricsRequireKey }).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterAll(() => servers.forEach((s) => s.close()));

/** The status of each route for no key and each role's key. */
async function statuses(base: string) {
  const callers = [undefined, ...ROLES] as const;
  const table: Record<string, (number | string)[]> = {};
  for (const key of Object.keys(operations)) {
    const [method, path] = key.split(' ') as [string, string];
    table[key] = await Promise.all(
      callers.map(async (role) => {
        const res = await fetch(base + path.replace(':id', 'x'), { method, headers: role ? { 'X-API-Key': keys[role] } : {} });
        return res.status;
      }),
    );
  }
  return table;
}

describe('declaredRouter', () => {
  let base: string;
  beforeAll(async () => {
    base = await listen(false);
  });

  it('lets each route through for the roles its declaration names, and no others', async () => {
    //                          no key, viewer, operator, admin
    expect(await statuses(base)).toEqual({
      'GET /open': [200, 200, 200, 200],
      'POST /hook': [200, 200, 200, 200],
      'GET /metrics': [200, 200, 200, 200],
      'GET /read': [401, 200, 200, 200],
      'POST /runs/:id': [401, 403, 200, 200],
      'DELETE /keys/:id': [401, 403, 403, 200],
    });
  });

  it('serves the path of the declaration, with its parameters', async () => {
    const res = await fetch(`${base}/runs/abc`, { method: 'POST', headers: { 'X-API-Key': keys.operator } });
    expect(await res.json()).toEqual({ params: { id: 'abc' } });
  });

  it('asks a key of any role for metrics when METRICS_REQUIRE_KEY is on', async () => {
    const keyed = await statuses(await listen(true));
    expect(keyed['GET /metrics']).toEqual([401, 200, 200, 200]);
    expect(keyed['GET /open']).toEqual([200, 200, 200, 200]);
  });
});

describe('requiredRole', () => {
  it('is the declared role, none for open and signed routes, and viewer for metrics behind a key', () => {
    for (const role of ROLES) expect(requiredRole(role)).toBe(role);
    expect(requiredRole('open')).toBeNull();
    expect(requiredRole('signed')).toBeNull();
    expect(requiredRole('metrics')).toBeNull();
    expect(requiredRole('metrics', { metricsRequireKey: true })).toBe('viewer');
    expect(requiredRole('open', { metricsRequireKey: true })).toBeNull();
  });
});
