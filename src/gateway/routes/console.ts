/**
 * The web console (console/, built by `npm run build:console` into
 * dist/console), served under `/console` with a Content-Security-Policy that
 * allows only this gateway: its scripts, styles and API. The page holds no
 * data: it asks the API with the key its user signs in with, so it is open
 * like the API's reference page.
 */
import { existsSync } from 'node:fs';
import express, { type RequestHandler, Router } from 'express';
import helmet from 'helmet';
import type { Config } from '../../config';
import { fromRoot } from '../../paths';
import { HttpProblem } from '../problem';

export const CONSOLE_PATH = '/console';
export const CONSOLE_DIR = fromRoot('dist', 'console');

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

/** What the page needs to know before anyone signs in: whether, and how, it may sign in through OIDC. */
export function consoleSettings(config: Pick<Config, 'oidc'>) {
  const login = config.oidc?.console;
  return { oidc: login ? { authorizationUrl: login.authorizationUrl, tokenUrl: login.tokenUrl, clientId: login.clientId, scope: login.scope } : null };
}

export function consoleRoutes(config: Pick<Config, 'oidc'>, dir = CONSOLE_DIR): Router {
  // Strict, so `/console` (redirected) and `/console/` (the page) are two routes.
  const router = Router({ strict: true });
  const login = config.oidc?.console;
  const csp: RequestHandler = helmet.contentSecurityPolicy({
    useDefaults: false,
    // Signing in through OIDC, the page trades its code for a token at the provider's token endpoint.
    directives: { ...CONSOLE_CSP_DIRECTIVES, connectSrc: ["'self'", ...(login ? [new URL(login.tokenUrl).origin] : [])] },
  });
  const settings = JSON.stringify(consoleSettings(config));
  router.get(CONSOLE_PATH, (_req, res) => res.redirect(301, `${CONSOLE_PATH}/`));
  router.get(`${CONSOLE_PATH}/settings.json`, (_req, res) => {
    res.type('application/json').set('Cache-Control', 'no-cache').send(settings);
  });
  // Looked for on disk until found (it may be built after the gateway starts), then no more.
  let built = false;
  router.use(CONSOLE_PATH, csp, (_req, _res, next) => {
    built ||= existsSync(dir);
    if (!built) return next(new HttpProblem('console_not_built', 'the console is not built: run npm run build:console'));
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
