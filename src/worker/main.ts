/** Worker process: runs workflows and activities, and reconciles the mirror. */
import { expressionProcess } from '../../activities/expression-process';
import { listenForChanges } from '../../db/change-feed';
import { createDb, poolSettings } from '../../db/client';
import { startReportRefresher } from '../../db/reports';
import { loadConfigOrExit } from '../config';
import { connectionsWithoutKey } from '../connections/resolver';
import { createLogger } from '../logger';
import { createReconciler } from '../mirror/reconciler';
import { flushErrorReports, initErrorReporting, reportError } from '../observability/sentry';
import { TemporalRefusedError } from '../temporal/client';
import { connectWorker } from './connect';
import { createWorker } from './create-worker';
import { installRuntime } from './runtime';
import { becomeCurrentIfFirst, workerVersion } from './versioning';

const config = loadConfigOrExit();
const logger = createLogger(config, 'worker');
if (await initErrorReporting(config, 'worker')) logger.info('error reporting to Sentry is on');
installRuntime(logger, { metricsAddress: config.workerMetricsAddress });
if (config.workerMetricsAddress) logger.info({ address: config.workerMetricsAddress }, 'Temporal SDK metrics served for Prometheus at /metrics');

async function main(): Promise<void> {
  const db = createDb({ ...poolSettings(config.database), logger });
  // Until it polls, a signal stops the wait for Temporal; after, the SDK's own handling drains the worker.
  const stopWaiting = new AbortController();
  const abort = () => stopWaiting.abort();
  process.once('SIGINT', abort).once('SIGTERM', abort);
  const connections = await connectWorker(config, logger, stopWaiting.signal);
  process.off('SIGINT', abort).off('SIGTERM', abort);
  if (!connections) {
    await db.destroy();
    logger.info('worker stopped before Temporal answered');
    process.exit(0);
  }
  const { connection, client, native: nativeConnection } = connections;
  // Opened connections are kept while Postgres reports their changes (src/connections/resolver.ts).
  const changes = config.database.listenUrl ? listenForChanges({ url: config.database.listenUrl, logger }) : undefined;
  const worker = await createWorker({ config, db, connection: nativeConnection, changes });
  for (const problem of await connectionsWithoutKey(db, config.connectionKeys).catch(() => [])) logger.error(problem);
  // Started with the worker, so the first expression past the workflow thread's budget does not wait for it.
  expressionProcess.start();
  const reconciler = createReconciler({ db, client, logger, intervalMs: config.mirror.reconcileIntervalMs });
  reconciler.start();
  const reports = startReportRefresher(db, logger, config.mirror.reportsRefreshIntervalMs);
  const version = workerVersion(config);
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, ...(version ? { deployment: version.deploymentName, buildId: version.buildId } : {}) }, 'worker polling');
  // The SDK stops the worker on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
  const running = worker.run();
  // A deployment's first build is made current by its worker; later ones wait for `npm run cli -- deploy promote`.
  const stopped = new AbortController();
  if (version) void becomeCurrentIfFirst(client, version, logger, { signal: stopped.signal });
  await running.finally(() => stopped.abort());
  await Promise.all([reconciler.stop(), reports.stop()]);
  expressionProcess.close();
  await Promise.all([nativeConnection.close(), connection.close(), changes?.close(), db.destroy()]);
  logger.info('worker stopped');
}

main().catch(async (err: unknown) => {
  // A refused certificate or key is said in its one line; nothing about it is unexpected.
  if (err instanceof TemporalRefusedError) logger.fatal(err.message);
  else logger.fatal({ err }, 'worker failed');
  reportError(err, { tags: { service: 'worker' } });
  await flushErrorReports();
  process.exit(1);
});
