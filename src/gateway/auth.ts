/**
 * Who may call what. Every route but the health check needs an API key, sent
 * as `Authorization: Bearer <key>` or `X-API-Key: <key>`, whose role is high
 * enough: a viewer reads, an operator also starts runs, an admin does
 * everything (definitions, validation, keys).
 *
 * `authenticate` resolves the key once per request without rejecting anything;
 * each route then states the role it needs with `requireRole`.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { NextFunction, RequestHandler, Response } from 'express';
import type { Kysely } from 'kysely';
import { API_KEY_PATTERN, type ApiKeyRecord, findActiveKeyByHash, hashApiKey, touchLastUsed } from '../../db/api-keys';
import type { ApiKeyRole, Database } from '../../db/schema';
import type { Logger } from '../logger';
import { HttpProblem } from './problem';

export type Role = ApiKeyRole;

/** Every role, lowest first: each one may do what the roles before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const satisfies readonly Role[];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether a key with role `have` may call a route that needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export type Credentials =
  | { kind: 'none' }
  | { kind: 'malformed'; message: string }
  | { kind: 'key'; key: string };

const REALM = 'Bearer realm="workflow-automation"';

/**
 * Reads the key from the request headers, checking only its shape. Both
 * headers may be sent if they carry the same key.
 */
export function readCredentials(headers: Pick<IncomingHttpHeaders, 'authorization'> & { 'x-api-key'?: string | string[] | undefined }): Credentials {
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
  if (!API_KEY_PATTERN.test(key)) {
    return {
      kind: 'malformed',
      message: 'the API key is malformed: keys are "wfa_" followed by 43 characters (letters, digits, "-" and "_")',
    };
  }
  return { kind: 'key', key };
}

/** The caller's key, or why there is none; set by {@link authenticate}. */
type AuthState = { caller: ApiKeyRecord } | { problem: HttpProblem };

const STATE = 'auth';

/** The key the request was authenticated with, if any. */
export function callerOf(res: Response): ApiKeyRecord | undefined {
  const state = res.locals[STATE] as AuthState | undefined;
  return state && 'caller' in state ? state.caller : undefined;
}

function unauthenticated(message: string, error?: 'invalid_request' | 'invalid_token'): HttpProblem {
  return new HttpProblem('unauthenticated', message, [], {
    'WWW-Authenticate': error ? `${REALM}, error="${error}"` : REALM,
  });
}

/**
 * Resolves the request's API key, if it has one, and records its use. Never
 * rejects: routes decide with {@link requireRole}, so open routes stay open.
 */
export function authenticate({ db, logger }: { db: Kysely<Database>; logger: Logger }): RequestHandler {
  return async (req, res, next) => {
    const credentials = readCredentials(req.headers);
    let state: AuthState;
    if (credentials.kind === 'none') {
      state = {
        problem: unauthenticated('an API key is required: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"'),
      };
    } else if (credentials.kind === 'malformed') {
      state = { problem: unauthenticated(credentials.message, 'invalid_request') };
    } else {
      const caller = await findActiveKeyByHash(db, hashApiKey(credentials.key));
      if (caller) {
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

/**
 * Lets the request through only with a key whose role is `need` or higher.
 * (Typed on the bare request so routes keep the parameter types of their paths.)
 */
export function requireRole(need: Role): (req: IncomingMessage, res: Response, next: NextFunction) => void {
  return (_req, res, next) => {
    const state = res.locals[STATE] as AuthState | undefined;
    if (!state) throw new Error('requireRole() runs after authenticate(); the gateway is wired wrongly');
    if ('problem' in state) throw state.problem;
    const { caller } = state;
    if (!roleAllows(caller.role, need)) {
      throw new HttpProblem(
        'forbidden',
        `this request needs the ${need} role or higher; the API key "${caller.name}" has the ${caller.role} role`,
      );
    }
    next();
  };
}
