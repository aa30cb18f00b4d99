/**
 * `GET /metrics`: this gateway's Prometheus metrics. Open by default, like the
 * probes; with METRICS_REQUIRE_KEY=true it needs an API key (any role).
 */
import type { Router } from 'express';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import type { Operations } from '../operations';

export const metricsOperations = {
  'GET /metrics': {
    tag: 'Probes',
    summary: "This gateway's Prometheus metrics",
    description: 'Open unless `METRICS_REQUIRE_KEY=true`, when it needs an API key of any role.',
    access: 'metrics',
    answers: { 200: { description: 'Prometheus text exposition format', type: 'text/plain' } },
  },
} satisfies Operations;

export function metricsRoutes({ config, metrics }: RouteDeps): Router {
  const { router, serve } = declaredRouter(metricsOperations, { metricsRequireKey: config.metrics.requireKey });
  serve('GET /metrics', async (_req, res) => {
    res.set('Cache-Control', 'no-store').type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}
