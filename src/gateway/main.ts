/** Gateway process: serves the HTTP API until SIGINT/SIGTERM, then drains and exits. */
import { listenForChanges } from '../../db/change-feed';
import { createDb, poolSettings } from '../../db/client';
import { loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { flushErrorReports, initErrorReporting, reportError } from '../observability/sentry';
import { lazyTemporal, watchTemporal } from '../temporal/client';
import { createApp } from './app';
import { createRateLimitRedis } from './rate-limit-store';
import { createRunEndings } from './run-endings';

const config = loadConfigOrExit();
const logger = createLogger(config, 'gateway');
if (await initErrorReporting(config, 'gateway')) logger.info('error reporting to Sentry is on');

async function main(): Promise<void> {
  const db = createDb({ ...poolSettings(config.database), logger });
  // Starts without Temporal: routes that need it answer 503 temporal_unavailable within about 2 s
  // until it answers, /readyz says not ready, and the client connects once it is back.
  const temporal = lazyTemporal(config, { failFast: true });
  const stopWatching = watchTemporal(temporal, { logger, address: config.temporal.address });
  // Shared rate-limit counters; an unreachable Redis is retried in the background, never fatal.
  const redis = config.redis.url ? createRateLimitRedis(config.redis, logger) : undefined;
  await redis?.connect().catch(() => undefined);
  // Keys and definitions are kept in memory while Postgres reports their changes (see lookups.ts).
  // And of runs that ended, for requests waiting on one (run-endings.ts).
  const changes = config.database.listenUrl ? listenForChanges({ url: config.database.listenUrl, logger, runEndings: true }) : undefined;
  const runEndings = createRunEndings(db, changes);
  const app = createApp({ config, db, temporal, logger, redis, changes, runEndings });
  const server = app.listen(config.http.port, config.http.host, () => {
    logger.info({ url: `http://${config.http.host}:${config.http.port}` }, 'gateway listening');
  });
  server.on('error', (err) => {
    logger.fatal({ err }, `could not listen on ${config.http.host}:${config.http.port}`);
    process.exit(1);
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'gateway stopping: finishing in-flight requests');
    // Requests waiting for a run to end answer now, with the run as it stands.
    runEndings.close();
    server.close(async () => {
      stopWatching();
      redis?.disconnect();
      await Promise.allSettled([changes?.close(), db.destroy(), temporal.connection.close(), flushErrorReports()]);
      logger.info('gateway stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch(async (err: unknown) => {
  logger.fatal({ err }, 'gateway failed to start');
  reportError(err, { tags: { service: 'gateway' } });
  await flushErrorReports();
  process.exit(1);
});
