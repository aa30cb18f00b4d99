/**
 * OIDC settings and claims: the configuration's checks, the role map, the
 * roles claim's path, the caller's name, and how a bearer credential is told
 * apart from an API key.
 */
import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../db/api-keys';
import { ConfigError, loadConfig } from '../../src/config';
import { parseRoleMap } from '../../src/config/oidc';
import { readCredentials } from '../../src/gateway/auth';
import { identityName, readClaim, roleFromClaims } from '../../src/gateway/oidc';
import { buildOpenApiDocument } from '../../src/gateway/openapi';
import { ROLES } from '../../src/shared/roles';

const base = { DATABASE_URL: 'postgres://app:s3cret@db.example:5432/workflows' };
const oidc = {
  OIDC_JWKS_URL: 'https://id.example.test/.well-known/jwks.json',
  OIDC_ISSUER: 'https://id.example.test/',
  OIDC_AUDIENCE: 'workflow-api',
  OIDC_ROLE_MAP: 'wf-admins:admin,wf-ops:operator,wf-readers:viewer',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('OIDC configuration', () => {
  it('is off unless configured', () => {
    expect(loadConfig(base).oidc).toBeUndefined();
  });

  it('reads the provider, the audiences, the roles claim and the role map', () => {
    const config = loadConfig({ ...base, ...oidc, OIDC_AUDIENCE: 'workflow-api, https://workflows.example.test' });
    expect(config.oidc).toEqual({
      jwksUrl: oidc.OIDC_JWKS_URL,
      issuer: oidc.OIDC_ISSUER,
      audiences: ['workflow-api', 'https://workflows.example.test'],
      rolesClaim: 'roles',
      roleMap: { 'wf-admins': 'admin', 'wf-ops': 'operator', 'wf-readers': 'viewer' },
      jwksCooldownSeconds: 30,
    });
    expect(Object.isFrozen(config.oidc)).toBe(true);
    expect(loadConfig({ ...base, ...oidc, OIDC_ROLES_CLAIM: 'realm_access.roles' }).oidc?.rolesClaim).toBe('realm_access.roles');
  });

  it("takes the console's sign-in settings together, and only with OIDC on", () => {
    const login = { OIDC_CONSOLE_CLIENT_ID: 'workflow-console', OIDC_AUTHORIZATION_URL: 'https://id.example.test/auth', OIDC_TOKEN_URL: 'https://id.example.test/token' };
    expect(loadConfig({ ...base, ...oidc, ...login }).oidc?.console).toEqual({
      clientId: 'workflow-console',
      authorizationUrl: 'https://id.example.test/auth',
      tokenUrl: 'https://id.example.test/token',
      scope: 'openid profile',
    });
    expect(loadConfig({ ...base, ...oidc }).oidc?.console).toBeUndefined();
    expect(problemsOf({ ...base, ...oidc, OIDC_CONSOLE_CLIENT_ID: 'workflow-console' })).toEqual([
      "OIDC_AUTHORIZATION_URL is required for the console's sign-in through OIDC: set OIDC_CONSOLE_CLIENT_ID, OIDC_AUTHORIZATION_URL, OIDC_TOKEN_URL together",
      "OIDC_TOKEN_URL is required for the console's sign-in through OIDC: set OIDC_CONSOLE_CLIENT_ID, OIDC_AUTHORIZATION_URL, OIDC_TOKEN_URL together",
    ]);
    expect(problemsOf({ ...base, ...login })[0]).toBe('OIDC_CONSOLE_CLIENT_ID is set, but OIDC is not: set OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP too');
  });

  it('needs the key set, issuer, audience and role map together, naming each one missing', () => {
    expect(problemsOf({ ...base, OIDC_JWKS_URL: oidc.OIDC_JWKS_URL })).toEqual([
      'OIDC_ISSUER is required when OIDC_JWKS_URL is set: OIDC needs OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP',
      'OIDC_AUDIENCE is required when OIDC_JWKS_URL is set: OIDC needs OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP',
      'OIDC_ROLE_MAP is required when OIDC_JWKS_URL is set: OIDC needs OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP',
    ]);
    const { OIDC_JWKS_URL: _omitted, ...withoutUrl } = oidc;
    expect(problemsOf({ ...base, ...withoutUrl })).toEqual([
      'OIDC_JWKS_URL is required when OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP are set: OIDC needs OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP',
    ]);
    expect(problemsOf({ ...base, OIDC_ROLES_CLAIM: 'groups' })).toEqual([
      'OIDC_ROLES_CLAIM is set, but OIDC is not: set OIDC_JWKS_URL, OIDC_ISSUER, OIDC_AUDIENCE, OIDC_ROLE_MAP too',
    ]);
    // Empty values in a .env file mean "not set".
    expect(problemsOf({ ...base, OIDC_JWKS_URL: '', OIDC_ISSUER: ' ', OIDC_AUDIENCE: '', OIDC_ROLE_MAP: '' })).toEqual([]);
  });

  it('fetches keys over https, or plain http on a loopback address only', () => {
    for (const url of ['http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9000/jwks', 'https://10.0.0.5/jwks']) {
      expect(problemsOf({ ...base, ...oidc, OIDC_JWKS_URL: url }), url).toEqual([]);
    }
    for (const url of ['http://id.example.test/jwks', 'http://10.0.0.5/jwks', 'ftp://id.example.test/jwks', 'not a url']) {
      expect(problemsOf({ ...base, ...oidc, OIDC_JWKS_URL: url }), url).toEqual([expect.stringMatching(/^OIDC_JWKS_URL must be/)]);
    }
  });

  it('refuses a bad roles claim, role map or cooldown, naming the variable', () => {
    expect(problemsOf({ ...base, ...oidc, OIDC_ROLES_CLAIM: 'realm_access..roles' })).toEqual([
      'OIDC_ROLES_CLAIM must be a claim name, or a dotted path to a nested claim such as realm_access.roles',
    ]);
    expect(problemsOf({ ...base, ...oidc, OIDC_ROLE_MAP: 'wf-admins:root' })).toEqual([
      'OIDC_ROLE_MAP maps "wf-admins" to "root", which is not a role: use viewer, operator, admin',
    ]);
    expect(problemsOf({ ...base, ...oidc, OIDC_JWKS_COOLDOWN_SECONDS: '-1' })).toEqual(['OIDC_JWKS_COOLDOWN_SECONDS must be at least 0']);
  });
});

describe('parseRoleMap', () => {
  it('reads <claim value>:<role> pairs, the role after the last colon', () => {
    expect({ ...(parseRoleMap(' wf-admins : admin , urn:groups:ops:operator,readers:viewer,readers:viewer') as object) }).toEqual({
      'wf-admins': 'admin',
      'urn:groups:ops': 'operator',
      readers: 'viewer',
    });
  });

  it('names only the roles the gateway has', () => {
    const map = parseRoleMap('a:viewer,b:operator,c:admin') as Record<string, string>;
    expect(Object.values(map)).toEqual([...ROLES]);
  });

  it.each([
    ['an empty map', ' , ', /must list at least one <claim value>:<role> pair/],
    ['a pair without a colon', 'wf-admins', /has "wf-admins", which is not <claim value>:<role>/],
    ['a pair without a value', ':admin', /has ":admin", which is not <claim value>:<role>/],
    ['an unknown role', 'wf-admins:superuser', /maps "wf-admins" to "superuser", which is not a role/],
    ['a role in capitals', 'wf-admins:Admin', /which is not a role/],
    ['a value mapped twice', 'wf:admin,wf:viewer', /maps "wf" twice, to admin and to viewer/],
  ])('refuses %s', (_name, value, message) => {
    const parsed = parseRoleMap(value);
    expect(parsed).toBeInstanceOf(Error);
    expect((parsed as Error).message).toMatch(message);
  });

  it('is not fooled by names of Object.prototype', () => {
    const map = parseRoleMap('wf-admins:admin') as Record<string, 'admin'>;
    expect(roleFromClaims({ roles: ['constructor', 'toString', '__proto__'] }, { rolesClaim: 'roles', roleMap: map })).toEqual({
      missing: 'none of the values of its "roles" claim is mapped to a role by OIDC_ROLE_MAP',
    });
  });
});

describe('readClaim', () => {
  const claims = {
    roles: ['a'],
    realm_access: { roles: ['wf-admins'] },
    resource_access: { 'workflow-api': { roles: ['wf-ops'] } },
    'https://example.test/roles': ['wf-readers'],
    list: [{ x: 1 }],
  };

  it('reads a top-level claim, or follows a dotted path into nested objects', () => {
    expect(readClaim(claims, 'roles')).toEqual(['a']);
    expect(readClaim(claims, 'realm_access.roles')).toEqual(['wf-admins']);
    expect(readClaim(claims, 'resource_access.workflow-api.roles')).toEqual(['wf-ops']);
  });

  it('prefers a top-level claim whose name has dots (namespaced claims)', () => {
    expect(readClaim(claims, 'https://example.test/roles')).toEqual(['wf-readers']);
  });

  it('is undefined where the path leads nowhere', () => {
    expect(readClaim(claims, 'groups')).toBeUndefined();
    expect(readClaim(claims, 'realm_access.groups')).toBeUndefined();
    expect(readClaim(claims, 'roles.length')).toBeUndefined();
    expect(readClaim(claims, 'list.0.x')).toBeUndefined();
    expect(readClaim(claims, 'realm_access.roles.constructor')).toBeUndefined();
    expect(readClaim(claims, 'realm_access.__proto__')).toBeUndefined();
  });
});

describe('roleFromClaims', () => {
  const settings = { rolesClaim: 'roles', roleMap: parseRoleMap(oidc.OIDC_ROLE_MAP) as Record<string, 'viewer' | 'operator' | 'admin'> };

  it('takes the highest role any value maps to', () => {
    expect(roleFromClaims({ roles: ['wf-readers', 'wf-admins', 'wf-ops'] }, settings)).toBe('admin');
    expect(roleFromClaims({ roles: ['unrelated', 'wf-ops', 'wf-readers'] }, settings)).toBe('operator');
    expect(roleFromClaims({ roles: 'wf-readers' }, settings)).toBe('viewer');
    expect(roleFromClaims({ roles: [3, 'wf-ops', null] }, settings)).toBe('operator');
  });

  it('reads the configured claim path', () => {
    expect(roleFromClaims({ realm_access: { roles: ['wf-ops'] } }, { ...settings, rolesClaim: 'realm_access.roles' })).toBe('operator');
  });

  it('says why a token grants no role', () => {
    expect(roleFromClaims({}, settings)).toEqual({ missing: 'it has no "roles" claim' });
    expect(roleFromClaims({ roles: { admin: true } }, settings)).toEqual({
      missing: 'its "roles" claim is neither a string nor an array of strings',
    });
    expect(roleFromClaims({ roles: [] }, settings)).toEqual({
      missing: 'none of the values of its "roles" claim is mapped to a role by OIDC_ROLE_MAP',
    });
    // Exact matches only: claim values are not patterns and not case-folded.
    expect(roleFromClaims({ roles: ['WF-ADMINS', 'wf-admins-old'] }, settings)).toHaveProperty('missing');
  });
});

describe('identityName', () => {
  it('is preferred_username, else email, else sub', () => {
    expect(identityName({ preferred_username: 'alice', email: 'alice@example.test', sub: 'u-1' })).toBe('alice');
    expect(identityName({ preferred_username: ' ', email: 'alice@example.test', sub: 'u-1' })).toBe('alice@example.test');
    expect(identityName({ preferred_username: 7, sub: 'u-1' } as never)).toBe('u-1');
    expect(identityName({ preferred_username: 'x'.repeat(300), sub: 'u-1' })).toHaveLength(200);
  });
});

describe('readCredentials with OIDC', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl';

  it('takes a JWT-shaped bearer credential as a token, and anything else as a key', () => {
    expect(readCredentials({ authorization: `Bearer ${jwt}` }, { acceptTokens: true })).toEqual({ kind: 'token', token: jwt });
    expect(readCredentials({ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTEifQ.' }, { acceptTokens: true }).kind).toBe('token');
    const key = generateApiKey();
    expect(readCredentials({ authorization: `Bearer ${key}` }, { acceptTokens: true })).toEqual({ kind: 'key', key });
    expect(readCredentials({ authorization: 'Bearer a.b' }, { acceptTokens: true }).kind).toBe('malformed');
    expect(readCredentials({ authorization: 'Bearer a.b.c.d' }, { acceptTokens: true }).kind).toBe('malformed');
    expect(readCredentials({ authorization: 'Bearer a+b.c.d' }, { acceptTokens: true }).kind).toBe('malformed');
  });

  it('takes a token only as a bearer credential, never from X-API-Key alone', () => {
    const result = readCredentials({ 'x-api-key': jwt }, { acceptTokens: true });
    expect(result.kind).toBe('malformed');
    expect(result.kind === 'malformed' ? result.message : '').toMatch(/OIDC token goes in the Authorization header/);
    expect(readCredentials({ authorization: `Bearer ${jwt}`, 'x-api-key': jwt }, { acceptTokens: true })).toEqual({ kind: 'token', token: jwt });
    const key = generateApiKey();
    expect(readCredentials({ 'x-api-key': key }, { acceptTokens: true })).toEqual({ kind: 'key', key });
  });

  it('says tokens are not accepted when OIDC is off, without echoing the token', () => {
    const result = readCredentials({ authorization: `Bearer ${jwt}` });
    expect(result.kind).toBe('malformed');
    const message = result.kind === 'malformed' ? result.message : '';
    expect(message).toMatch(/API key is malformed.*does not accept JWT bearer tokens \(OIDC is not configured\)/);
    expect(message).not.toContain(jwt.split('.')[1]);
  });
});

describe('the OpenAPI document with OIDC', () => {
  it('describes tokens beside keys, and the answers only tokens give', () => {
    const doc = buildOpenApiDocument({ oidc: true });
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    expect(doc.components.securitySchemes!.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer', description: expect.stringMatching(/OIDC/) });
    const read = doc.paths['/api/workflows']!.get!.responses as Record<string, { description: string }>;
    expect(read['403']!.description).toMatch(/forbidden/);
    expect(read['503']!.description).toMatch(/identity_provider_unavailable/);
    expect((doc.paths['/livez']!.get!.responses as Record<string, unknown>)['503']).toBeUndefined();
    const plain = buildOpenApiDocument().paths['/api/workflows']!.get!.responses as Record<string, { description: string }>;
    expect(plain['403']).toBeUndefined();
    expect(plain['503']!.description).not.toMatch(/identity_provider_unavailable/);
  });
});
