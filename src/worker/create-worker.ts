/** Builds the Temporal worker that runs the interpreter and its activities. */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../../activities';
import type { Database } from '../../db/schema';
import type { Config } from '../config';
import { mirrorSinks } from './mirror-sink';
import { reportUnexpectedActivityFailures } from './report-failures';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface CreateWorkerOptions {
  config: Config;
  db: Kysely<Database>;
  connection: NativeConnection;
  /** A pre-built workflow bundle (tests build it once); otherwise bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** The activities to register. @default createActivities({ config, db }) (the benchmarks swap one out) */
  activities?: ReturnType<typeof createActivities>;
}

export async function createWorker({ config, db, connection, workflowBundle, activities }: CreateWorkerOptions): Promise<Worker> {
  const registered = activities ?? createActivities({ config, db });
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: registered,
    sinks: mirrorSinks(registered.recordRunEvents),
    interceptors: { activity: [reportUnexpectedActivityFailures] },
    maxConcurrentWorkflowTaskExecutions: config.workflow.maxConcurrentExecutions,
    maxConcurrentActivityTaskExecutions: config.workflow.queueConcurrency,
    maxCachedWorkflows: config.workflow.enableCaching ? undefined : 0,
    shutdownGraceTime: '10s',
  });
}
