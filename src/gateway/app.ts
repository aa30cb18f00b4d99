/** The Express gateway: routes, JSON parsing, and one error shape for everything. */
import { randomUUID } from 'node:crypto';
import compression from 'compression';
import express, { type ErrorRequestHandler, type Express } from 'express';
import helmet from 'helmet';
import { isDatabaseUnavailable } from '../../db/client';
import { reportError } from '../observability/sentry';
import { authenticate } from './auth';
import type { GatewayDeps, RouteDeps } from './context';
import { createLookups } from './lookups';
import { createRunEndings } from './run-endings';
import { countWaitingRequests, createGatewayMetrics, type GatewayMetrics, httpMetrics } from './metrics';
import { corsPolicy, rateLimiter, requestLogger } from './middleware';
import { createTokenVerifier } from './oidc';
import { buildOpenApiDocument, OPERATIONS } from './openapi';
import { HttpProblem, sendProblem } from './problem';
import { bodyTextGuard, requestTextGuard } from './request-text';
import { JSON_TYPES } from './validate';
import { redisRateLimitStore } from './rate-limit-store';
import { approvalRoutes } from './routes/approvals';
import { isTemporalUnavailable } from '../temporal/client';
import { payloadUnreadable } from '../temporal/encryption';
import { codecCors, codecRoutes } from './routes/codec';
import { connectionRoutes } from './routes/connections';
import { deploymentRoutes } from './routes/deployments';
import { consoleRoutes } from './routes/console';
import { docsRoutes } from './routes/docs';
import { executionActionRoutes } from './routes/execution-actions';
import { executionRoutes } from './routes/executions';
import { recoveryRoutes } from './routes/recovery';
import { outboxRoutes } from './routes/outbox';
import { reportRoutes } from './routes/reports';
import { sessionRoutes } from './routes/session';
import { healthRoutes, PROBE_PATHS } from './routes/health';
import { hookRoutes, type RawBodyCarrier } from './routes/hooks';
import { keyRoutes } from './routes/keys';
import { metricsRoutes } from './routes/metrics';
import { workflowRunRoutes } from './routes/workflow-runs';
import { workflowRoutes } from './routes/workflows';

/** Largest JSON body accepted. */
export const BODY_LIMIT = '1mb';

/** Answers smaller than this go uncompressed: compressing them saves little and costs time. */
export const COMPRESSION_THRESHOLD_BYTES = 1024;

export function createApp(deps: GatewayDeps): Express {
  const app = express();
  // Each app counts its own traffic in its own registry.
  const routeDeps: RouteDeps = {
    ...deps,
    metrics: createGatewayMetrics(),
    lookups: createLookups(deps.db, deps.changes),
    runEndings: deps.runEndings ?? createRunEndings(deps.db, deps.changes),
  };
  countWaitingRequests(routeDeps.metrics, () => routeDeps.runEndings.waiting);
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Which X-Forwarded-For hops `req.ip` believes: none unless TRUST_PROXY says so.
  app.set('trust proxy', deps.config.http.trustProxy);

  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('x-request-id', id);
    next();
  });
  app.use(httpMetrics(routeDeps.metrics));
  // gzip, deflate or br as Accept-Encoding allows, for answers of 1 KiB or more.
  app.use(compression({ threshold: COMPRESSION_THRESHOLD_BYTES }));
  app.use(requestLogger(deps.logger, { quietPaths: PROBE_PATHS }));
  app.use(helmet());
  // Paths, query strings and headers holding text Postgres or JSON cannot hold: 400 invalid_text, for every route.
  app.use(requestTextGuard(Object.keys(OPERATIONS).map((operation) => operation.split(' ')[1]!)));
  // The codec server answers the Temporal UI's origin (its preflights come without a key).
  app.use('/api/codec', codecCors(deps.config));
  const cors = corsPolicy(deps.config.corsOrigins);
  if (cors) app.use(cors);

  // Open, and not rate limited: probes must not be turned away.
  app.use(healthRoutes(deps));
  // The API reference: open, and static.
  app.use(docsRoutes(deps, buildOpenApiDocument));
  app.use(consoleRoutes(deps.config));

  // Everything below needs an API key (or an OIDC token); each route names its role (see auth.ts).
  const verifyToken = deps.config.oidc ? createTokenVerifier(deps.config.oidc, deps) : undefined;
  app.use(authenticate({ ...routeDeps, verifyToken }));
  // Open unless METRICS_REQUIRE_KEY; scrapes are not rate limited.
  app.use(metricsRoutes(routeDeps));
  if (deps.config.rateLimit.enabled) {
    const store = deps.redis ? redisRateLimitStore(deps.redis, deps.config.redis.rateLimitPrefix) : undefined;
    app.use(rateLimiter(deps.config.rateLimit, { logger: deps.logger, store }));
  }
  app.use(
    express.json({
      limit: BODY_LIMIT,
      strict: true,
      type: JSON_TYPES,
      // Webhook signatures are over the bytes as sent, which parsing loses.
      verify: (req, _res, buf) => {
        (req as RawBodyCarrier).rawBody = buf;
      },
    }),
  );
  // Strings and keys in the body, at any depth, and its bytes: checked once here, before the hooks check a signature.
  app.use(bodyTextGuard());

  // Signed, not keyed: see routes/hooks.ts.
  app.use(hookRoutes(routeDeps));
  // A body the JSON parser skipped (text, a form, no content type) would read as no body at all: refuse it instead.
  app.use((req, _res, next) => {
    // `Content-Length: 0` (a POST without a body, as fetch sends it) is no body, whatever the type.
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && req.method !== 'GET' && req.method !== 'HEAD' && req.is(JSON_TYPES) === false) {
      const sent = req.get('content-type')?.split(';')[0]?.trim().slice(0, 100) || 'no Content-Type';
      throw new HttpProblem('unsupported_media_type', `send the body as JSON with Content-Type: application/json (this request sent ${sent})`);
    }
    next();
  });
  app.use(workflowRoutes(routeDeps));
  app.use(workflowRunRoutes(routeDeps));
  app.use(recoveryRoutes(deps));
  app.use(reportRoutes(deps));
  app.use(outboxRoutes(deps));
  app.use(sessionRoutes());
  app.use(codecRoutes(deps.config));
  app.use(executionActionRoutes(deps));
  app.use(executionRoutes(routeDeps));
  app.use(approvalRoutes(deps));
  app.use(keyRoutes(routeDeps));
  app.use(connectionRoutes(routeDeps));
  app.use(deploymentRoutes(deps));

  app.use((req, res) => {
    sendProblem(res, new HttpProblem('route_not_found', `no route for ${req.method} ${req.path}`), res.locals.requestId);
  });
  app.use(errorHandler(deps, routeDeps.metrics));
  return app;
}

function errorHandler({ logger }: GatewayDeps, metrics: GatewayMetrics): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId: string | undefined = res.locals.requestId;
    const answer = (problem: HttpProblem) => {
      if (problem.status >= 500) metrics.errors.inc({ code: problem.code });
      sendProblem(res, problem, requestId);
    };
    if (err instanceof HttpProblem) {
      answer(err);
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      answer(new HttpProblem('invalid_json', `the body is not valid JSON: ${e.message}`));
      return;
    }
    if (e.type === 'entity.too.large') {
      answer(new HttpProblem('payload_too_large', `the body is larger than ${BODY_LIMIT}`));
      return;
    }
    if (e.status === 415 || e.type === 'charset.unsupported' || e.type === 'encoding.unsupported') {
      answer(new HttpProblem('unsupported_media_type', e.message ?? 'unsupported body encoding'));
      return;
    }
    if (isUnstorableText(err)) {
      // The guards (request-text.ts) refuse such text before any route: reaching here means a place they do not see.
      logger.warn({ err, requestId, method: req.method, path: req.path }, 'text that cannot be stored passed the request text guards');
      answer(new HttpProblem('invalid_text', 'the request holds text that cannot be stored (a NUL character, an unpaired surrogate or bytes that are not UTF-8)'));
      return;
    }
    const unreadable = payloadUnreadable(err);
    if (unreadable) {
      logger.error({ err, requestId, keyId: unreadable.keyId }, 'a Temporal payload could not be decrypted');
      answer(new HttpProblem('payload_unreadable', `${unreadable.message}; the run itself is unaffected`));
      return;
    }
    if (isTemporalUnavailable(err)) {
      // The gateway's watch warns once per outage (src/temporal/client.ts); not once per request.
      logger.debug({ err, requestId }, 'Temporal unavailable');
      answer(new HttpProblem('temporal_unavailable', 'Temporal is unavailable; try again shortly'));
      return;
    }
    if (isDatabaseUnavailable(err)) {
      // Once per request: the pool logs the outage itself, once as it begins and once as it ends.
      logger.debug({ err, requestId }, 'database unavailable');
      answer(new HttpProblem('database_unavailable', 'the database is unavailable; try again shortly'));
      return;
    }
    logger.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
    // Route pattern, not the path: ids stay out of the report's grouping.
    reportError(err, { tags: { service: 'gateway', requestId, method: req.method, route: (req.route as { path?: string } | undefined)?.path ?? req.path } });
    answer(new HttpProblem('internal_error', 'an unexpected error occurred; it has been logged'));
  };
}

/**
 * A path the router could not decode, or text Postgres refused as such: 22021 (a byte sequence not
 * valid in UTF8, as NUL is) and 22P05 (`\u0000` in jsonb).
 */
function isUnstorableText(err: unknown): boolean {
  if (err instanceof URIError) return true;
  const code = (err as { code?: string })?.code;
  return code === '22021' || code === '22P05';
}
