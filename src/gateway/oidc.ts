/**
 * OIDC bearer tokens: JWTs signed by an identity provider, accepted beside API
 * keys when OIDC_JWKS_URL is set. A token is trusted when its signature
 * verifies with a key from the provider's key set (fetched by the gateway,
 * cached, fetched again when a token names a key not in it), its `iss` and
 * `aud` are the configured ones and it has not expired. Its role comes from a
 * claim (`roles` by default) through OIDC_ROLE_MAP.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { OidcConfig } from '../config/oidc';
import type { Logger } from '../logger';
import { type Role, roleAtLeast } from '../shared/roles';
import { unauthenticated } from './auth';
import { HttpProblem } from './problem';

/** Who a verified token speaks for. */
export interface TokenCaller {
  kind: 'token';
  /** `oidc:<sub>`: stable across the caller's tokens, unlike its name; never an API key's id. */
  id: string;
  /** The token's `sub`. */
  subject: string;
  /** See {@link identityName}. */
  name: string;
  role: Role;
}

/**
 * Signatures accepted: asymmetric only. A symmetric (HS*) token would be
 * signed with a secret the provider shares, and `none` is no signature at all.
 */
export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** Seconds of clock difference with the provider forgiven on `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** How long one fetch of the key set may take. */
const JWKS_TIMEOUT_MS = 5_000;

/** How often, at most, an unreachable key set is logged. */
const FETCH_WARNING_INTERVAL_MS = 60_000;

/** The longest name a token gives its caller; approvals' `by` is at most this long. */
const MAX_NAME_LENGTH = 200;


/**
 * Reads a claim: the top-level claim of that exact name if there is one (so
 * namespaced claims such as `https://example.com/roles` work), else the
 * dotted path through nested objects (`realm_access.roles`).
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * The highest role the claim's values map to, or a sentence saying why there
 * is none. The claim holds one value (a string) or several (an array of strings).
 */
export function roleFromClaims(
  claims: Readonly<Record<string, unknown>>,
  { rolesClaim, roleMap }: Pick<OidcConfig, 'rolesClaim' | 'roleMap'>,
): Role | { missing: string } {
  const value = readClaim(claims, rolesClaim);
  if (value === undefined) return { missing: `it has no "${rolesClaim}" claim` };
  const values = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
  if (values === undefined) return { missing: `its "${rolesClaim}" claim is neither a string nor an array of strings` };
  const granted = values.filter((v) => Object.hasOwn(roleMap, v)).map((v) => roleMap[v] as Role);
  if (granted.length === 0) return { missing: `none of the values of its "${rolesClaim}" claim is mapped to a role by OIDC_ROLE_MAP` };
  return granted.reduce((best, role) => (roleAtLeast(best, role) ? best : role));
}

/**
 * What a token's caller is called wherever an API key's name would be used
 * (approval decisions, "terminated by …", logs): `preferred_username`, else
 * `email`, else `sub`.
 */
export function identityName(claims: JWTPayload): string {
  for (const claim of ['preferred_username', 'email', 'sub']) {
    const value = claims[claim];
    if (typeof value === 'string' && value.trim() !== '') return value.trim().slice(0, MAX_NAME_LENGTH);
  }
  return 'unknown';
}

export type TokenVerifier = (token: string) => Promise<TokenCaller | HttpProblem>;

/**
 * Checks tokens against the provider's keys and the configured claims. Never
 * throws: the answer is the caller, or the problem to send (401 for a bad
 * token, 403 for one without a role, 503 when the key set cannot be fetched).
 * Messages never repeat the token.
 */
export function createTokenVerifier(config: OidcConfig, { logger }: { logger: Logger }): TokenVerifier {
  const keySet = createRemoteJWKSet(new URL(config.jwksUrl), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: config.jwksCooldownSeconds * 1000,
  });
  let lastWarning = 0;

  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        issuer: config.issuer,
        audience: [...config.audiences],
        algorithms: TOKEN_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      const refused = refusal(err, token);
      if (refused) return unauthenticated(refused, 'invalid_token');
      if (Date.now() - lastWarning >= FETCH_WARNING_INTERVAL_MS) {
        lastWarning = Date.now();
        logger.warn({ err }, 'could not fetch the OIDC key set (OIDC_JWKS_URL); token requests answer 503 (logged at most once a minute)');
      }
      return new HttpProblem(
        'identity_provider_unavailable',
        "the identity provider's signing keys (OIDC_JWKS_URL) could not be fetched, so the token cannot be checked; try again shortly or use an API key",
      );
    }

    const name = identityName(payload);
    const role = roleFromClaims(payload, config);
    if (typeof role !== 'string') {
      return new HttpProblem('forbidden', `the token of "${name}" grants no role: ${role.missing}`);
    }
    const subject = String(payload.sub);
    return { kind: 'token', id: `oidc:${subject}`, subject, name, role };
  };
}

/**
 * Why a token is refused, in words; undefined when the fault is not the
 * token's but the key set's (unreachable, timed out, not a key set).
 */
function refusal(err: unknown, token: string): string | undefined {
  if (!(err instanceof errors.JOSEError)) return undefined;
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'the token was issued by another issuer than this gateway trusts (iss)';
      case 'aud':
        return 'the token is meant for another audience than this API (aud)';
      case 'nbf':
        return 'the token is not valid yet (nbf)';
      default:
        return err.reason === 'missing' ? `the token has no "${err.claim}" claim, which is required` : `the token's "${err.claim}" claim is invalid`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return `the token is signed with ${algorithmOf(token)}, which is not accepted: only asymmetric signatures (RS256, ES256, …) are`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (err instanceof errors.JWKSNoMatchingKey) return "the token is signed with a key the identity provider does not publish (unknown kid)";
  if (err instanceof errors.JWKSMultipleMatchingKeys) return "the token's signature does not verify with any of the provider's keys it may name";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'the token is not a well-formed JWT';
  if (err instanceof errors.JOSENotSupported) return "the token's key or algorithm is not supported";
  // JWKSTimeout, JWKSInvalid and the generic JOSEError of a bad fetch: the key set's fault.
  return undefined;
}

/** The header's `alg`, if it is a plausible algorithm name: never more of the token. */
function algorithmOf(token: string): string {
  try {
    const alg = decodeProtectedHeader(token).alg;
    return typeof alg === 'string' && /^[A-Za-z0-9+-]{1,16}$/.test(alg) ? `"${alg}"` : 'an unknown algorithm';
  } catch {
    return 'an unreadable header';
  }
}
