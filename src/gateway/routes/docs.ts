/**
 * The API reference, open to all and not rate limited:
 * - `GET /api/openapi.json`: the OpenAPI 3.1 document, built by ../openapi.ts
 *   from every route's declarations (these included), and handed to
 *   {@link docsRoutes} so that this file and that one do not import each other;
 * - `GET /api/docs`: a page rendering it with Swagger UI, whose assets are
 *   served from the installed package under `/api/docs/`: no CDN, so the page
 *   works offline. The page gets a Content-Security-Policy of its own that
 *   allows only this gateway's scripts, styles and images.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RequestHandler, Router } from 'express';
import helmet from 'helmet';
import type { GatewayDeps } from '../context';
import { declaredRouter } from '../declared-router';
import type { Operations } from '../operations';

/** Where the document and the page that renders it are served. */
export const OPENAPI_PATH = '/api/openapi.json';
export const DOCS_PATH = '/api/docs';

export const docsOperations = {
  'GET /api/openapi.json': {
    tag: 'Reference',
    summary: 'This document',
    access: 'open',
    answers: { 200: { description: 'the OpenAPI 3.1 document of the gateway' } },
  },
  'GET /api/docs': {
    tag: 'Reference',
    summary: 'This document as a readable page',
    description: 'Works offline: the page and its assets are served by the gateway.',
    access: 'open',
    answers: { 200: { description: 'an HTML page', type: 'text/html' } },
  },
} satisfies Operations;

const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The package's files the page uses, and nothing else from it. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/** Starts Swagger UI on the document; a file of its own, since the policy allows no inline script. */
const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(OPENAPI_PATH)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Workflow automation API</title>
    <link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
    <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <noscript>This page needs JavaScript; the document itself is at <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>.</noscript>
    <script src="${DOCS_PATH}/swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="${DOCS_PATH}/init.js" charset="utf-8"></script>
  </body>
</html>
`;

/** The page's policy, replacing the gateway's default one on the page and its assets only. */
export const DOCS_CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  // Swagger UI sets style attributes as it renders.
  styleSrc: ["'self'", "'unsafe-inline'"],
  // Its icons are inline SVG data URLs.
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  // Fetches the document, and "Try it out" calls this gateway.
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
};

/** The document as served, built once per setting of METRICS_REQUIRE_KEY and of OIDC. */
const documents = new Map<string, string>();

/** The document for a setting of METRICS_REQUIRE_KEY and of OIDC. */
type BuildDocument = (options: { metricsRequireKey: boolean; oidc: boolean }) => unknown;

export function docsRoutes({ config }: GatewayDeps, buildDocument: BuildDocument): Router {
  const { router, serve } = declaredRouter(docsOperations);
  const metricsRequireKey = config.metrics.requireKey;
  const oidc = config.oidc !== undefined;
  const variant = `${metricsRequireKey}/${oidc}`;
  const document = documents.get(variant) ?? JSON.stringify(buildDocument({ metricsRequireKey, oidc }));
  documents.set(variant, document);
  const csp: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: DOCS_CSP_DIRECTIVES });

  // Paths written out (not OPENAPI_PATH, DOCS_PATH): the tests find the declared routes by reading them.
  serve('GET /api/openapi.json', (_req, res) => {
    res.type('application/json').set('Cache-Control', 'no-cache').send(document);
  });

  serve('GET /api/docs', csp, (_req, res) => {
    res.type('html').set('Cache-Control', 'no-cache').send(PAGE);
  });

  // The page's own assets: a fixed list, so nothing else in the package is reachable.
  router.use(DOCS_PATH, csp, (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const name = req.path.slice(1);
    if (name === 'init.js') {
      res.type('text/javascript; charset=utf-8').set('Cache-Control', 'no-cache').send(INIT_SCRIPT);
      return;
    }
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return next();
    res.sendFile(join(SWAGGER_UI_DIR, name), { maxAge: '1d', headers: { 'Content-Type': type } }, (err) => {
      if (err) next(err);
    });
  });

  return router;
}
