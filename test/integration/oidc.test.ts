/**
 * OIDC bearer tokens beside API keys: a loopback identity provider publishes a
 * key set, tokens signed with its keys get what keys of the same role get, and
 * every kind of bad token is refused with its own message.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { findExecution } from '../../db/executions';
import type { ApiKeyRole } from '../../db/schema';
import { REDACT_PATHS } from '../../src/logger';
import { createHarness, eventually, type Harness } from '../support/harness';

const ISSUER = 'https://id.example.test/realms/workflows';
const AUDIENCE = 'workflow-api';
const GROUPS: Record<ApiKeyRole, string> = { viewer: 'wf-readers', operator: 'wf-ops', admin: 'wf-admins' };

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** The identity provider's published keys; tests add to it to rotate. */
const published: JWK[] = [];
let jwksFetches = 0;
let jwksServer: Server;

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<{ alg: string; kid: string; pair: KeyPair; jwk: JWK }> {
  const pair = await generateKeyPair(alg);
  return { alg, kid, pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
}

let current: Awaited<ReturnType<typeof keyPair>>;
let next: Awaited<ReturnType<typeof keyPair>>;

interface TokenOptions {
  claims?: JWTPayload;
  key?: { alg: string; kid: string; pair: KeyPair };
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative for a token that has expired. */
  expiresIn?: number;
}

async function token({ claims = {}, key = current, issuer = ISSUER, audience = AUDIENCE, expiresIn = 300 }: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ preferred_username: 'someone', ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(String(claims.sub ?? `user-${String(claims.preferred_username ?? 'someone')}`))
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + expiresIn)
    .sign(key.pair.privateKey);
}

const tokenFor = (role: ApiKeyRole, name = `${role}-person`) =>
  token({ claims: { preferred_username: name, realm_access: { roles: ['offline_access', GROUPS[role]] } } });

/** Every line the gateway logs. */
const logLines: string[] = [];
const logger = pino(
  { level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);
/** Every token sent, to look for in answers and logs afterwards. */
const sent: string[] = [];

let h: Harness;
const keys = {} as Record<ApiKeyRole, string>;
let closedExecutionId: string;

const minimal = { key: 'oidc-roles', name: 'OIDC roles', category: 'tests', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] };
const waiting = { key: 'oidc-waiting', name: 'OIDC waiting', category: 'tests', steps: [{ id: 'ask', type: 'wait_for_signal', signal: 'go', timeout: '1h' }] };

beforeAll(async () => {
  current = await keyPair('RS256', 'current');
  next = await keyPair('ES256', 'next');
  published.push(current.jwk);
  jwksServer = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));

  h = await createHarness({
    env: {
      OIDC_JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`,
      OIDC_ISSUER: ISSUER,
      OIDC_AUDIENCE: `other-api, ${AUDIENCE}`,
      OIDC_ROLES_CLAIM: 'realm_access.roles',
      OIDC_ROLE_MAP: Object.entries(GROUPS).map(([role, group]) => `${group}:${role}`).join(','),
      // Fetch the key set again as soon as a token names a key not in it.
      OIDC_JWKS_COOLDOWN_SECONDS: '0',
    },
    logger,
  });
  for (const role of ['viewer', 'operator', 'admin'] as const) keys[role] = (await createApiKey(h.db, { name: `${role} key`, role })).key;
  for (const definition of [minimal, waiting]) expect((await h.api('POST', '/api/workflows', definition)).status).toBe(201);
  const started = await h.api('POST', '/api/workflows/oidc-roles/execute', { triggerData: {} });
  expect(started.status).toBe(202);
  closedExecutionId = started.body.executionId;
  await h.client.workflow.getHandle(started.body.workflowId).result();
});

afterAll(async () => {
  await h?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

/** Sends `credential` as a bearer token. */
async function call(method: string, path: string, credential: string, body?: unknown) {
  const res = await h.api(method, path, body, { authorization: `Bearer ${credential}` }, { key: null });
  const claims = credential.split('.')[1];
  if (claims) {
    sent.push(credential);
    expect(JSON.stringify(res.body)).not.toContain(claims);
  }
  return res;
}

describe('tokens and API keys of the same role', () => {
  const ROUTES: { name: string; method: string; path: () => string; body?: () => unknown; statuses: Record<ApiKeyRole, number> }[] = [
    { name: 'a read', method: 'GET', path: () => '/api/workflows', statuses: { viewer: 200, operator: 200, admin: 200 } },
    { name: 'a run', method: 'GET', path: () => `/api/executions/${closedExecutionId}`, statuses: { viewer: 200, operator: 200, admin: 200 } },
    {
      name: 'a start',
      method: 'POST',
      path: () => '/api/workflows/oidc-roles/execute',
      body: () => ({ triggerData: {} }),
      statuses: { viewer: 403, operator: 202, admin: 202 },
    },
    {
      // The run has ended: whoever may signal gets the 409 of a closed run.
      name: 'a signal',
      method: 'POST',
      path: () => `/api/executions/${closedExecutionId}/signal`,
      body: () => ({ signal: 'go' }),
      statuses: { viewer: 403, operator: 409, admin: 409 },
    },
    {
      name: 'an admin route',
      method: 'POST',
      path: () => '/api/workflows/validate',
      body: () => minimal,
      statuses: { viewer: 403, operator: 403, admin: 200 },
    },
    { name: 'the key list', method: 'GET', path: () => '/api/keys', statuses: { viewer: 403, operator: 403, admin: 200 } },
  ];

  for (const route of ROUTES) {
    it.each(['viewer', 'operator', 'admin'] as const)(`get the same answer on ${route.name} as a %s`, async (role) => {
      const byKey = await call(route.method, route.path(), keys[role], route.body?.());
      const byToken = await call(route.method, route.path(), await tokenFor(role), route.body?.());
      expect(byKey.status, JSON.stringify(byKey.body)).toBe(route.statuses[role]);
      expect(byToken.status, JSON.stringify(byToken.body)).toBe(route.statuses[role]);
      expect(byToken.body?.code).toBe(byKey.body?.code);
      if (byToken.status === 403) {
        expect(byToken.body.detail).toMatch(new RegExp(`the token of "${role}-person" grants the ${role} role`));
      }
    });
  }

  it('take the highest role the claim maps to', async () => {
    const both = await token({ claims: { realm_access: { roles: [GROUPS.viewer, GROUPS.admin, GROUPS.operator] } } });
    expect((await call('GET', '/api/keys', both)).status).toBe(200);
  });

  it('name the caller where a key would be named: decisions, terminations, logs', async () => {
    const started = await h.api('POST', '/api/workflows/oidc-waiting/execute', { triggerData: {} });
    expect(started.status).toBe(202);
    await eventually(async () => ((await findExecution(h.db, started.body.executionId))?.current_step === 'ask' ? true : undefined), 15_000, 'the waiting step');
    const admin = await token({ claims: { preferred_username: 'alice', email: 'alice@example.test', realm_access: { roles: [GROUPS.admin] } } });
    const terminated = await h.api(
      'POST',
      `/api/executions/${started.body.executionId}/terminate`,
      { reason: 'not needed' },
      { authorization: `Bearer ${admin}`, 'x-request-id': 'oidc-terminate' },
      { key: null },
    );
    sent.push(admin);
    expect(terminated.status, JSON.stringify(terminated.body)).toBe(200);
    expect((await findExecution(h.db, started.body.executionId))?.error).toBe('terminated by alice: not needed');

    const line = await eventually(
      async () => logLines.map((l) => JSON.parse(l)).find((l) => l.req?.id === 'oidc-terminate' && l.res),
      5_000,
      'the request log line',
    );
    expect(line).toMatchObject({ tokenName: 'alice', tokenSubject: 'user-alice' });
    expect(line.req.headers.authorization).toBe('[redacted]');
  });
});

describe('bad tokens', () => {
  it.each<[string, () => Promise<string>, RegExp]>([
    ['an expired token', () => token({ expiresIn: -120 }), /^the token has expired$/],
    ['a token for another audience', () => token({ audience: 'someone-else' }), /meant for another audience/],
    ['a token from another issuer', () => token({ issuer: 'https://evil.example.test/' }), /issued by another issuer/],
    [
      'a token signed by another key under a published kid',
      async () => token({ key: { ...current, pair: await generateKeyPair('RS256') } }),
      /signature does not verify/,
    ],
    ['a token signed by a key never published', async () => token({ key: { alg: 'RS256', kid: 'stranger', pair: await generateKeyPair('RS256') } }), /does not publish \(unknown kid\)/],
    [
      'a token signed with a shared secret (HS256)',
      () =>
        new SignJWT({ realm_access: { roles: [GROUPS.admin] } })
          .setProtectedHeader({ alg: 'HS256', kid: current.kid })
          .setSubject('mallory')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('a'.repeat(32))),
      /signed with "HS256", which is not accepted: only asymmetric signatures/,
    ],
    [
      'an unsigned token (alg none)',
      async () => {
        const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const exp = Math.floor(Date.now() / 1000) + 300;
        return `${part({ alg: 'none' })}.${part({ sub: 'mallory', iss: ISSUER, aud: AUDIENCE, exp, realm_access: { roles: [GROUPS.admin] } })}.`;
      },
      /signed with "none", which is not accepted/,
    ],
    ['a token without an expiry', () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: current.kid }).setSubject('x').setIssuer(ISSUER).setAudience(AUDIENCE).sign(current.pair.privateKey), /no "exp" claim/],
  ])('refuses %s with 401 and its own message', async (_name, make, message) => {
    const res = await call('GET', '/api/workflows', await make());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="workflow-automation", error="invalid_token"');
    expect(res.body.code).toBe('unauthenticated');
    expect(res.body.detail).toMatch(message);
  });

  it('refuses a valid token sent in X-API-Key: tokens are bearer credentials only', async () => {
    const valid = await tokenFor('admin');
    sent.push(valid);
    const res = await h.api('GET', '/api/workflows', undefined, { 'x-api-key': valid }, { key: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="workflow-automation", error="invalid_request"');
    expect(res.body.detail).toMatch(/OIDC token goes in the Authorization header/);
    expect(JSON.stringify(res.body)).not.toContain(valid.split('.')[1]);
    expect((await call('GET', '/api/workflows', valid)).status).toBe(200);
  });

  it('forgives a little clock difference on the expiry', async () => {
    expect((await call('GET', '/api/workflows', await token({ claims: { realm_access: { roles: [GROUPS.viewer] } }, expiresIn: -10 }))).status).toBe(200);
  });

  it('refuses a valid token that maps to no role with 403', async () => {
    const res = await call('GET', '/api/workflows', await token({ claims: { preferred_username: 'bob', realm_access: { roles: ['offline_access'] } } }));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
    expect(res.body.detail).toBe(
      'the token of "bob" grants no role: none of the values of its "realm_access.roles" claim is mapped to a role by OIDC_ROLE_MAP',
    );
    const noClaim = await call('GET', '/api/workflows', await token({ claims: { preferred_username: 'carol' } }));
    expect(noClaim.body.detail).toBe('the token of "carol" grants no role: it has no "realm_access.roles" claim');
  });
});

describe('key rotation', () => {
  it('accepts tokens signed with a key published after the first fetch, and the old key still', async () => {
    const rotated = await token({ key: next, claims: { realm_access: { roles: [GROUPS.viewer] } } });
    const before = await call('GET', '/api/workflows', rotated);
    expect(before.status).toBe(401);
    expect(before.body.detail).toMatch(/unknown kid/);

    const fetches = jwksFetches;
    published.push(next.jwk);
    expect((await call('GET', '/api/workflows', rotated)).status).toBe(200);
    expect(jwksFetches).toBe(fetches + 1);
    // Cached now: no fetch for a key already known.
    expect((await call('GET', '/api/workflows', await tokenFor('viewer'))).status).toBe(200);
    expect((await call('GET', '/api/workflows', rotated)).status).toBe(200);
    expect(jwksFetches).toBe(fetches + 1);
  });
});

describe('API keys beside OIDC', () => {
  it('still work, and are still refused as before', async () => {
    expect((await call('GET', '/api/workflows', keys.viewer)).status).toBe(200);
    expect((await h.api('GET', '/api/workflows', undefined, { 'x-api-key': keys.operator }, { key: null })).status).toBe(200);
    expect((await call('POST', '/api/workflows/validate', keys.operator, minimal)).status).toBe(403);
    const unknown = await call('GET', '/api/workflows', `wfa_${'A'.repeat(43)}`);
    expect(unknown.status).toBe(401);
    expect(unknown.body.detail).toBe('the API key is unknown or has been revoked');
    const neither = await call('GET', '/api/workflows', 'not-a-key-nor-a-token');
    expect(neither.status).toBe(401);
    expect(neither.body.detail).toMatch(/API key is malformed/);
  });
});

describe('an unreachable key set', () => {
  let offline: Harness;
  beforeAll(async () => {
    // A loopback port nobody listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    offline = await createHarness({
      env: { OIDC_JWKS_URL: `http://127.0.0.1:${port}/jwks`, OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_ROLE_MAP: 'wf-readers:viewer' },
      worker: false,
    });
  });
  afterAll(async () => {
    await offline?.close();
  });

  it('answers 503 for tokens, and keys still work', async () => {
    const jwt = await tokenFor('viewer');
    sent.push(jwt);
    const res = await offline.api('GET', '/api/workflows', undefined, { authorization: `Bearer ${jwt}` }, { key: null });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('identity_provider_unavailable');
    expect(res.body.detail).toMatch(/signing keys \(OIDC_JWKS_URL\) could not be fetched/);
    expect((await offline.api('GET', '/api/workflows')).status).toBe(200);
  });
});

describe('tokens in plaintext', () => {
  // Answers are checked as they come, in call().
  it('are written to no log', async () => {
    expect(sent.length).toBeGreaterThan(20);
    const all = logLines.join('');
    for (const jwt of sent) {
      const signature = jwt.split('.')[2]!;
      if (signature) expect(all).not.toContain(signature);
      expect(all).not.toContain(jwt.split('.')[1]!);
    }
  });
});
