/**
 * The gateway's Prometheus metrics. Each app gets its own registry (never
 * prom-client's global one), so several apps in one process do not clash and
 * each reports only its own traffic.
 */
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  runsStarted: Counter<'definition' | 'trigger'>;
  errors: Counter<'code'>;
}

/** Label of requests no route matched: the raw URL would make one series per path tried. */
export const UNMATCHED_ROUTE = '(unmatched)';

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    runsStarted: new Counter({
      name: 'workflow_runs_started_total',
      help: 'Runs started through the gateway (idempotent replays excluded), by definition key and trigger',
      labelNames: ['definition', 'trigger'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'gateway_errors_total',
      help: 'Requests the gateway answered with a server-side error (5xx), by problem code',
      labelNames: ['code'],
      registers: [registry],
    }),
  };
}

/** Reports, at each scrape, how many requests wait for a run to end (`GET /api/executions/{id}?wait=…`). */
export function countWaitingRequests(metrics: GatewayMetrics, waiting: () => number): void {
  new Gauge({
    name: 'gateway_requests_waiting_for_run_end',
    help: 'Requests waiting for a run to end (GET /api/executions/{id} with wait)',
    registers: [metrics.registry],
    collect() {
      this.set(waiting());
    },
  });
}

/**
 * Times every request and counts it when the answer is finished, labelled by
 * the route pattern that matched (`/api/executions/:id`), not the URL.
 */
export function httpMetrics(metrics: GatewayMetrics): RequestHandler {
  return (req, res, next) => {
    const stop = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const path = (req.route as { path?: unknown } | undefined)?.path;
      const labels = { method: req.method, route: typeof path === 'string' ? path : UNMATCHED_ROUTE, status: String(res.statusCode) };
      stop(labels);
      metrics.httpRequests.inc(labels);
    });
    next();
  };
}
