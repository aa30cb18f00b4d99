/** The gateway's request hygiene: request logs, CORS, and the per-key rate limit. */
import { randomUUID } from 'node:crypto';
import cors from 'cors';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { callerOf } from './auth';
import { HttpProblem, sendProblem } from './problem';

/**
 * One log line per request, under the request id the gateway already chose.
 * Credentials in headers are blanked by the logger's redaction paths.
 * `clientIp` is Express's `req.ip`: the peer's address, or the address from
 * `X-Forwarded-For` that `TRUST_PROXY` allows.
 */
export function requestLogger(logger: Logger): RequestHandler {
  return pinoHttp<Request, Response>({
    logger,
    genReqId: (_req, res) => (res.locals.requestId as string | undefined) ?? randomUUID(),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    customProps: (req, res) => {
      const caller = callerOf(res);
      if (caller?.kind === 'token') return { clientIp: req.ip, tokenSubject: caller.subject, tokenName: caller.name };
      return { clientIp: req.ip, ...(caller ? { apiKeyId: caller.id, apiKeyName: caller.name } : {}) };
    },
  });
}

/**
 * CORS for the configured origins only; none configured means no CORS headers
 * at all, so browsers on other sites cannot read answers. `*` allows any origin
 * (keys travel in headers, never in cookies).
 */
export function corsPolicy(origins: readonly string[]): RequestHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
    exposedHeaders: ['X-Request-Id', 'Location', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
    maxAge: 600,
  });
}

/** How often, at most, the limiter logs that its store failed. */
const STORE_WARNING_INTERVAL_MS = 60_000;

/**
 * At most `perMinute` requests a minute per API key (or OIDC token subject);
 * requests without a valid key count against their address (`req.ip`, see `TRUST_PROXY`) instead, so
 * guessing keys is limited too. Counters live in this process's memory, or in
 * `store` (Redis, shared by gateways). Should the store fail, requests go
 * through unlimited and a warning is logged, at most once a minute.
 */
export function rateLimiter({ perMinute }: Config['rateLimit'], { logger, store }: { logger: Logger; store?: Store | undefined }): RequestHandler {
  let lastWarning = 0;
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(store ? { store } : {}),
    passOnStoreError: true,
    logger: {
      error: (err, message) => {
        if (Date.now() - lastWarning < STORE_WARNING_INTERVAL_MS) return;
        lastWarning = Date.now();
        logger.warn({ err }, `${message ?? 'rate limit store failed'} (logged at most once a minute)`);
      },
      warn: (err, message) => logger.warn({ err }, message ?? 'rate limiter warning'),
    },
    keyGenerator: (req, res) => {
      const caller = callerOf(res);
      // Token callers' ids start with "oidc:", so they never share a count with a key.
      return caller ? `key:${caller.id}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (_req, res) => {
      const retryAfter = res.getHeader('Retry-After');
      const caller = callerOf(res);
      const by = !caller ? 'client address' : caller.kind === 'key' ? 'API key' : 'token subject';
      sendProblem(
        res,
        new HttpProblem(
          'rate_limited',
          `too many requests: at most ${perMinute} a minute per ${by}; retry in ${retryAfter ?? 60} s`,
        ),
        res.locals.requestId as string | undefined,
      );
    },
  });
}
