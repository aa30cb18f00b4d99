/**
 * The web console (console/, built by `npm run build:console` into
 * dist/console), served under `/console` with a Content-Security-Policy that
 * allows only this gateway: its scripts, styles and API. The page holds no
 * data: it asks the API with the key its user signs in with, so it is open
 * like the API's reference page.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler, Router } from 'express';
import helmet from 'helmet';
import { HttpProblem } from '../problem';

export const CONSOLE_PATH = '/console';
export const CONSOLE_DIR = fileURLToPath(new URL('../../../dist/console', import.meta.url));

export const CONSOLE_CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
};

export function consoleRoutes(dir = CONSOLE_DIR): Router {
  // Strict, so `/console` (redirected) and `/console/` (the page) are two routes.
  const router = Router({ strict: true });
  const csp: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: CONSOLE_CSP_DIRECTIVES });
  router.get(CONSOLE_PATH, (_req, res) => res.redirect(301, `${CONSOLE_PATH}/`));
  router.use(CONSOLE_PATH, csp, (req, _res, next) => {
    if (!existsSync(dir)) return next(new HttpProblem('console_not_built', 'the console is not built: run npm run build:console'));
    next();
  });
  router.use(
    CONSOLE_PATH,
    express.static(dir, {
      index: 'index.html',
      fallthrough: true,
      // Assets carry a content hash in their names; the page itself is checked each time.
      setHeaders: (res, path) => res.setHeader('Cache-Control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable'),
    }),
  );
  return router;
}
