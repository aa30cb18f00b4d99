/** The gateway's request hygiene: request logs, CORS, and the per-key rate limit. */
import { randomUUID } from 'node:crypto';
import cors from 'cors';
import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import type { Config } from '../config';
import { type Logger, redactQueryCredentials } from '../logger';
import { callerOf } from './auth';
import { HttpProblem, sendProblem } from './problem';

/**
 * One log line per request when it is answered (or its connection closes
 * first), under the request id the gateway already chose: method, URL,
 * headers, status and time taken, at `info`, `warn` for 4xx and for a client
 * that went away before its answer, `error` for 5xx. Credentials in headers are blanked by the logger's redaction paths;
 * credentials in query strings (`?api_key=…`, `?token=…`, in the URL and in `Referer`) are blanked here.
 * `clientIp` is Express's `req.ip`: the peer's address, or the address from
 * `X-Forwarded-For` that `TRUST_PROXY` allows. Nothing is built for a line the
 * log level leaves out. Requests to `quietPaths` (the probes) are logged at
 * `debug` whatever their answer.
 */
export function requestLogger(logger: Logger, { quietPaths = [] }: { quietPaths?: readonly string[] } = {}): RequestHandler {
  const quiet = new Set(quietPaths);
  return (req, res, next) => {
    const started = performance.now();
    // Probes come every few seconds, and a failing one is not the gateway's error: they log their own changes.
    const probe = quiet.has(req.path);
    let logged = false;
    const log = () => {
      if (logged) return;
      logged = true;
      const completed = res.writableFinished;
      const level = probe ? 'debug' : res.statusCode >= 500 ? 'error' : !completed || res.statusCode >= 400 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const caller = callerOf(res);
      const who =
        caller?.kind === 'token'
          ? { tokenSubject: caller.subject, tokenName: caller.name }
          : caller
            ? { apiKeyId: caller.id, apiKeyName: caller.name }
            : {};
      logger[level](
        {
          req: {
            id: (res.locals.requestId as string | undefined) ?? randomUUID(),
            method: req.method,
            url: redactQueryCredentials(req.originalUrl),
            headers: req.headers.referer ? { ...req.headers, referer: redactQueryCredentials(req.headers.referer) } : req.headers,
            remoteAddress: req.socket.remoteAddress,
            remotePort: req.socket.remotePort,
          },
          res: { statusCode: res.statusCode, headers: res.getHeaders() },
          responseTime: Math.round(performance.now() - started),
          clientIp: req.ip,
          ...who,
        },
        completed ? 'request completed' : 'request aborted',
      );
    };
    res.once('finish', log);
    res.once('close', log);
    next();
  };
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
