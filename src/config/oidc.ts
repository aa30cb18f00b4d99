/**
 * OIDC bearer tokens and the console's sign-in through the provider: the
 * variables (OIDC_*), checked together, and the role map they carry.
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { isRole, ROLES, type Role } from '../shared/roles';
import { ConfigError, int, list, optionalHttpUrl, optionalString } from './variables';

/**
 * How the gateway checks OIDC bearer tokens (JWTs): whose keys sign them, who
 * issues them, for which audience, and which of their claim values grant
 * which role.
 */
export interface OidcConfig {
  /** The provider's JSON Web Key Set (OIDC_JWKS_URL), fetched by the gateway and cached. */
  readonly jwksUrl: string;
  /** The `iss` every token must carry (OIDC_ISSUER), compared exactly. */
  readonly issuer: string;
  /** Accepted `aud` values (OIDC_AUDIENCE, comma-separated): a token must name one of them. */
  readonly audiences: readonly string[];
  /**
   * The claim holding the caller's roles or groups (OIDC_ROLES_CLAIM): a
   * top-level name, else a dotted path into nested claims. @default 'roles'
   */
  readonly rolesClaim: string;
  /** Our role for each claim value that grants one (OIDC_ROLE_MAP). */
  readonly roleMap: Readonly<Record<string, Role>>;
  /**
   * Least seconds between two fetches of the key set prompted by a token
   * signed with a key not in it (a rotation). @default 30
   */
  readonly jwksCooldownSeconds: number;
  /**
   * The console's sign-in through the provider, when set: the browser is sent
   * to `authorizationUrl` (authorization code with PKCE) and trades the code
   * for an access token at `tokenUrl`, as the public client `clientId`.
   */
  readonly console?: { readonly clientId: string; readonly authorizationUrl: string; readonly tokenUrl: string; readonly scope: string } | undefined;
}

/** The variables of OIDC bearer tokens and of the console's sign-in, checked together by oidcConfig. */
export const oidcVariables = z.object({
  OIDC_JWKS_URL: optionalString.refine((v) => v === undefined || isSafeJwksUrl(v), {
    message: 'must be an https:// URL (http:// only on a loopback address)',
  }),
  OIDC_ISSUER: optionalString,
  OIDC_AUDIENCE: optionalString,
  OIDC_ROLES_CLAIM: optionalString.refine((v) => v === undefined || isClaimPath(v), {
    message: 'must be a claim name, or a dotted path to a nested claim such as realm_access.roles',
  }),
  OIDC_ROLE_MAP: optionalString,
  OIDC_JWKS_COOLDOWN_SECONDS: int(30, 0, 3600),
  /** The console's sign-in through the provider (authorization code with PKCE, a public client). */
  OIDC_CONSOLE_CLIENT_ID: optionalString,
  OIDC_AUTHORIZATION_URL: optionalHttpUrl,
  OIDC_TOKEN_URL: optionalHttpUrl,
  OIDC_CONSOLE_SCOPE: optionalString,
});

/** The variables that switch OIDC on, all needed together. */
const OIDC_REQUIRED = ['OIDC_JWKS_URL', 'OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_ROLE_MAP'] as const;

export function oidcConfig(e: z.output<typeof oidcVariables>): OidcConfig | undefined {
  const missing = OIDC_REQUIRED.filter((name) => e[name] === undefined);
  if (missing.length === OIDC_REQUIRED.length) {
    const stray = (['OIDC_ROLES_CLAIM', 'OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL', 'OIDC_CONSOLE_SCOPE'] as const).filter((n) => e[n] !== undefined);
    if (stray.length === 0) return undefined;
    throw new ConfigError(stray.map((name) => `${name} is set, but OIDC is not: set ${OIDC_REQUIRED.join(', ')} too`));
  }
  if (missing.length > 0) {
    const set = OIDC_REQUIRED.filter((name) => e[name] !== undefined).join(', ');
    throw new ConfigError(missing.map((name) => `${name} is required when ${set} ${set.includes(',') ? 'are' : 'is'} set: OIDC needs ${OIDC_REQUIRED.join(', ')}`));
  }
  const roleMap = parseRoleMap(e.OIDC_ROLE_MAP as string);
  if (roleMap instanceof Error) throw new ConfigError([`OIDC_ROLE_MAP ${roleMap.message}`]);
  const consoleVars = ['OIDC_CONSOLE_CLIENT_ID', 'OIDC_AUTHORIZATION_URL', 'OIDC_TOKEN_URL'] as const;
  const consoleMissing = consoleVars.filter((name) => e[name] === undefined);
  if (consoleMissing.length > 0 && consoleMissing.length < consoleVars.length) {
    throw new ConfigError(consoleMissing.map((name) => `${name} is required for the console's sign-in through OIDC: set ${consoleVars.join(', ')} together`));
  }
  return {
    ...(consoleMissing.length === 0
      ? {
          console: {
            clientId: (e.OIDC_CONSOLE_CLIENT_ID as string).trim(),
            authorizationUrl: e.OIDC_AUTHORIZATION_URL as string,
            tokenUrl: e.OIDC_TOKEN_URL as string,
            scope: e.OIDC_CONSOLE_SCOPE?.trim() || 'openid profile',
          },
        }
      : {}),
    jwksUrl: e.OIDC_JWKS_URL as string,
    issuer: (e.OIDC_ISSUER as string).trim(),
    audiences: list(e.OIDC_AUDIENCE),
    rolesClaim: e.OIDC_ROLES_CLAIM?.trim() ?? 'roles',
    roleMap,
    jwksCooldownSeconds: e.OIDC_JWKS_COOLDOWN_SECONDS,
  };
}

/**
 * Parses OIDC_ROLE_MAP: comma-separated `<claim value>:<role>` pairs, e.g.
 * `wf-admins:admin,wf-ops:operator`. The role follows the last colon, so claim
 * values may contain colons (`urn:group:admins:admin`). An Error says what is
 * wrong.
 */
export function parseRoleMap(value: string): Record<string, Role> | Error {
  const map: Record<string, Role> = Object.create(null) as Record<string, Role>;
  const entries = list(value);
  if (entries.length === 0) return new Error('must list at least one <claim value>:<role> pair');
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    const claimValue = entry.slice(0, Math.max(colon, 0)).trim();
    const role = entry.slice(colon + 1).trim();
    if (colon < 0 || claimValue === '') {
      return new Error(`has "${entry}", which is not <claim value>:<role> (e.g. wf-admins:admin)`);
    }
    if (!isRole(role)) {
      return new Error(`maps "${claimValue}" to "${role}", which is not a role: use ${ROLES.join(', ')}`);
    }
    if (Object.hasOwn(map, claimValue) && map[claimValue] !== role) {
      return new Error(`maps "${claimValue}" twice, to ${map[claimValue]} and to ${role}`);
    }
    map[claimValue] = role;
  }
  return map;
}

/** A claim name, or dot-separated names with none empty. */
function isClaimPath(value: string): boolean {
  return value.trim().split('.').every((part) => part !== '' && !/\s/.test(part));
}

/**
 * Keys fetched in clear text could be swapped on the way, and with them every
 * token accepted: plain http is allowed to the gateway's own host only.
 */
function isSafeJwksUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}
