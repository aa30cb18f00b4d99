/**
 * Who may call what. Every route but the health check needs an API key, sent
 * as `Authorization: Bearer <key>` or `X-API-Key: <key>`, whose role is high
 * enough: a viewer reads, an operator also starts runs, an admin does
 * everything (definitions, validation, keys). When OIDC is configured, a JWT
 * from the identity provider may stand in for the key (see oidc.ts).
 *
 * `authenticate` resolves the key or token once per request without rejecting
 * anything; `requireRole` then checks the role a route's declaration names
 * (see declared-router.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { NextFunction, RequestHandler, Response } from 'express';
import type { Kysely } from 'kysely';
import { API_KEY_PATTERN, type ApiKeyRecord, hashApiKey, touchLastUsed } from '../../db/api-keys';
import type { Database } from '../../db/schema';
import type { Logger } from '../logger';
import { type Role, roleAtLeast } from '../shared/roles';
import type { Lookups } from './lookups';
import type { TokenCaller, TokenVerifier } from './oidc';
import { HttpProblem } from './problem';

export type Credentials =
  | { kind: 'none' }
  | { kind: 'malformed'; message: string }
  | { kind: 'key'; key: string }
  | { kind: 'token'; token: string };

/** Three base64url parts separated by dots (the last empty for an unsigned token), as a compact JWT is. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const REALM = 'Bearer realm="workflow-automation"';

/**
 * Reads the key from the request headers, checking only its shape. Both
 * headers may be sent if they carry the same key. With `acceptTokens`, a
 * credential shaped like a JWT in the Authorization header is a token for
 * OIDC (in X-API-Key alone it is refused); otherwise it is a malformed key.
 */
export function readCredentials(
  headers: Pick<IncomingHttpHeaders, 'authorization'> & { 'x-api-key'?: string | string[] | undefined },
  { acceptTokens = false }: { acceptTokens?: boolean } = {},
): Credentials {
  const authorization = headers.authorization;
  const apiKeyHeader = headers['x-api-key'];
  if (authorization === undefined && apiKeyHeader === undefined) return { kind: 'none' };

  let fromAuthorization: string | undefined;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization.trim());
    if (!match) {
      return { kind: 'malformed', message: 'the Authorization header is malformed: expected "Bearer <key>"' };
    }
    fromAuthorization = match[1];
  }
  let fromApiKey: string | undefined;
  if (apiKeyHeader !== undefined) {
    fromApiKey = (Array.isArray(apiKeyHeader) ? apiKeyHeader.join(',') : apiKeyHeader).trim();
    if (fromApiKey === '') return { kind: 'malformed', message: 'the X-API-Key header is empty' };
  }
  if (fromAuthorization !== undefined && fromApiKey !== undefined && fromAuthorization !== fromApiKey) {
    return { kind: 'malformed', message: 'the Authorization and X-API-Key headers carry different keys; send one' };
  }
  const key = (fromAuthorization ?? fromApiKey) as string;
  const jwt = JWT_SHAPE.test(key);
  if (jwt && acceptTokens) {
    // A token is a bearer credential (RFC 6750): X-API-Key is for API keys only.
    if (fromAuthorization === undefined) {
      return { kind: 'malformed', message: 'an OIDC token goes in the Authorization header ("Authorization: Bearer <token>"); X-API-Key takes only API keys' };
    }
    return { kind: 'token', token: key };
  }
  if (!API_KEY_PATTERN.test(key)) {
    return {
      kind: 'malformed',
      message:
        'the API key is malformed: keys are "wfa_" followed by 43 characters (letters, digits, "-" and "_")' +
        (jwt ? '; this gateway does not accept JWT bearer tokens (OIDC is not configured)' : ''),
    };
  }
  return { kind: 'key', key };
}

/** Who is calling: an API key, or the subject of an OIDC token. */
export type Caller = KeyCaller | TokenCaller;

export interface KeyCaller {
  kind: 'key';
  /** The key's id. */
  id: string;
  /** The key's name: who decides, terminates or resets, as far as the records say. */
  name: string;
  role: Role;
}

/** The caller, or why there is none; set by {@link authenticate}. */
type AuthState = { caller: Caller } | { problem: HttpProblem };

const STATE = 'auth';

/** Who the request was authenticated as (an API key or a token), if anyone. */
export function callerOf(res: Response): Caller | undefined {
  const state = res.locals[STATE] as AuthState | undefined;
  return state && 'caller' in state ? state.caller : undefined;
}

/** A 401 problem with the `WWW-Authenticate` challenge, naming the RFC 6750 error when there is one. */
export function unauthenticated(message: string, error?: 'invalid_request' | 'invalid_token'): HttpProblem {
  return new HttpProblem('unauthenticated', message, [], {
    'WWW-Authenticate': error ? `${REALM}, error="${error}"` : REALM,
  });
}

/**
 * Resolves the request's API key or token, if it has one, and records a key's
 * use. Never rejects: routes decide with {@link requireRole}, so open routes
 * stay open. Tokens are accepted only with `verifyToken` (OIDC configured).
 */
export function authenticate({
  db,
  lookups,
  logger,
  verifyToken,
}: {
  db: Kysely<Database>;
  lookups: Lookups;
  logger: Logger;
  verifyToken?: TokenVerifier | undefined;
}): RequestHandler {
  return async (req, res, next) => {
    const credentials = readCredentials(req.headers, { acceptTokens: verifyToken !== undefined });
    let state: AuthState;
    if (credentials.kind === 'none') {
      state = {
        problem: unauthenticated('an API key is required: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"'),
      };
    } else if (credentials.kind === 'malformed') {
      state = { problem: unauthenticated(credentials.message, 'invalid_request') };
    } else if (credentials.kind === 'token') {
      // readCredentials answers 'token' only when told tokens are accepted, i.e. with a verifier.
      const verified = verifyToken ? await verifyToken(credentials.token) : unauthenticated('OIDC is not configured', 'invalid_token');
      state = verified instanceof HttpProblem ? { problem: verified } : { caller: verified };
    } else {
      const record = await lookups.activeKey(hashApiKey(credentials.key));
      if (record) {
        const caller = keyCaller(record);
        state = { caller };
        touchLastUsed(db, caller.id).catch((err: unknown) => {
          logger.warn({ err, apiKeyId: caller.id }, 'could not record when the API key was last used');
        });
      } else {
        state = { problem: unauthenticated('the API key is unknown or has been revoked', 'invalid_token') };
      }
    }
    res.locals[STATE] = state;
    next();
  };
}

function keyCaller({ id, name, role }: ApiKeyRecord): KeyCaller {
  return { kind: 'key', id, name, role };
}

/**
 * Lets the request through only with a key whose role is `need` or higher.
 * Routes are given it by declared-router.ts from their declared `access`.
 * (Typed on the bare request so routes keep the parameter types of their paths.)
 */
export function requireRole(need: Role): (req: IncomingMessage, res: Response, next: NextFunction) => void {
  return (_req, res, next) => {
    const state = res.locals[STATE] as AuthState | undefined;
    if (!state) throw new Error('requireRole() runs after authenticate(); the gateway is wired wrongly');
    if ('problem' in state) throw state.problem;
    const { caller } = state;
    if (!roleAtLeast(caller.role, need)) {
      throw new HttpProblem(
        'forbidden',
        caller.kind === 'key'
          ? `this request needs the ${need} role or higher; the API key "${caller.name}" has the ${caller.role} role`
          : `this request needs the ${need} role or higher; the token of "${caller.name}" grants the ${caller.role} role`,
      );
    }
    next();
  };
}
