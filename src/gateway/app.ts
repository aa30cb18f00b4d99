/** The Express gateway: routes, JSON parsing, and one error shape for everything. */
import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Express } from 'express';
import helmet from 'helmet';
import { authenticate } from './auth';
import type { GatewayDeps } from './context';
import { corsPolicy, rateLimiter, requestLogger } from './middleware';
import { HttpProblem, sendProblem } from './problem';
import { executionRoutes } from './routes/executions';
import { healthRoutes } from './routes/health';
import { keyRoutes } from './routes/keys';
import { workflowRoutes } from './routes/workflows';

/** Largest JSON body accepted. */
export const BODY_LIMIT = '1mb';

export function createApp(deps: GatewayDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('x-request-id', id);
    next();
  });
  app.use(requestLogger(deps.logger));
  app.use(helmet());
  const cors = corsPolicy(deps.config.corsOrigins);
  if (cors) app.use(cors);

  // Open, and not rate limited: probes must not be turned away.
  app.use(healthRoutes(deps));

  // Everything below needs an API key; each route names its role (see auth.ts).
  app.use(authenticate(deps));
  if (deps.config.rateLimit.enabled) app.use(rateLimiter(deps.config.rateLimit));
  app.use(express.json({ limit: BODY_LIMIT, strict: true, type: ['application/json', 'application/*+json'] }));

  app.use(workflowRoutes(deps));
  app.use(executionRoutes(deps));
  app.use(keyRoutes(deps));

  app.use((req, res) => {
    sendProblem(res, new HttpProblem('route_not_found', `no route for ${req.method} ${req.path}`), res.locals.requestId);
  });
  app.use(errorHandler(deps));
  return app;
}

function errorHandler({ logger }: GatewayDeps): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId: string | undefined = res.locals.requestId;
    if (err instanceof HttpProblem) {
      sendProblem(res, err, requestId);
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      sendProblem(res, new HttpProblem('invalid_json', `the body is not valid JSON: ${e.message}`), requestId);
      return;
    }
    if (e.type === 'entity.too.large') {
      sendProblem(res, new HttpProblem('payload_too_large', `the body is larger than ${BODY_LIMIT}`), requestId);
      return;
    }
    if (e.status === 415 || e.type === 'charset.unsupported' || e.type === 'encoding.unsupported') {
      sendProblem(res, new HttpProblem('unsupported_media_type', e.message ?? 'unsupported body encoding'), requestId);
      return;
    }
    if (isDatabaseDown(err)) {
      logger.error({ err, requestId }, 'database unavailable');
      sendProblem(res, new HttpProblem('database_unavailable', 'the database is unavailable; try again shortly'), requestId);
      return;
    }
    logger.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
    sendProblem(res, new HttpProblem('internal_error', 'an unexpected error occurred; it has been logged'), requestId);
  };
}

function isDatabaseDown(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === '57P01' || code === '57P03' || /connection terminated|timeout exceeded when trying to connect/i.test(String(err));
}
