/**
 * The hand-written workflow's worker in `gateway-load`: a worker as its
 * author would run one, with the SDK's defaults throughout (its bundler, its
 * worker options), registering the product's activities so both sides do the
 * same work outside workflow code. Compiled and started by gateway-load.ts,
 * configured by the same environment as the product's worker; it bundles
 * the workflow at `HAND_WRITTEN_WORKFLOWS` as it starts.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createDb, poolSettings } from '../../db/client';
import { loadConfigOrExit } from '../../src/config';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';
import * as plainActivities from './plain-activities';

const config = loadConfigOrExit();
// Warnings and errors only, as the product's worker logs under the benchmark.
Runtime.install({ logger: new DefaultLogger('WARN') });
const workflowsPath = process.env.HAND_WRITTEN_WORKFLOWS;
if (!workflowsPath) throw new Error('HAND_WRITTEN_WORKFLOWS names the hand-written workflow module');
const db = createDb(poolSettings(config.database));
const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporal));
const worker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueue,
  workflowsPath,
  activities: { ...createActivities({ config, db }), ...plainActivities },
});
// The SDK stops the worker on SIGINT/SIGTERM.
await worker.run();
await Promise.all([connection.close(), db.destroy()]);
