/** Builds the Temporal worker that runs the interpreter and its activities. */
import { type BundleOptions, bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../../activities';
import type { ChangeFeed } from '../../db/change-feed';
import type { Database } from '../../db/schema';
import type { Config } from '../config';
import { fromRoot } from '../paths';
import { mirrorSinks } from './mirror-sink';
import { dataConverterFor } from '../temporal/encryption';
import { beatIntervalMs, heartbeatWhileRunning } from './heartbeat';
import { reportUnexpectedActivityFailures } from './report-failures';
import { workerDeploymentOptions, workerVersion } from './versioning';

export const WORKFLOWS_PATH = fromRoot('workflows', 'index.ts');

type WebpackConfig = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];

/** The modules that import the libraries the workflow bundle loads lazily, and the shims that stand in for them there. */
const LAZY_LIBRARY_IMPORTERS = /[\\/]src[\\/]shared[\\/](expressions|jsonata-builtins|linear-regexp)\.ts$/;
const LAZY_LIBRARIES = {
  jsonata$: fromRoot('src', 'worker', 'bundle-shims', 'jsonata.cjs'),
  re2js$: fromRoot('src', 'worker', 'bundle-shims', 're2js.cjs'),
};

/**
 * How every bundle of the workflow code is made (the worker's, the tests',
 * the benchmarks'): as the SDK makes it, but compiled for the Node.js the
 * worker runs on (ES2022) rather than ES2017. Object spread, class fields and
 * optional chaining then stay native instead of becoming helper calls, which
 * every run paid for: about 5% of the worker's CPU per run in the
 * `interpreter` benchmark. Native and helper forms behave alike, and async
 * functions are native under both targets, so runs replay as they ran.
 *
 * JSONata and the regular-expression engine are loaded by the expression
 * modules at their first use rather than with the bundle (bundle-shims/): the
 * sandbox loads every module again for each run, and these two were most of
 * that load in runs that never use them.
 */
export const WORKFLOW_BUNDLER_OPTIONS = {
  webpackConfigHook(config: WebpackConfig): WebpackConfig {
    const typescript = config.module?.rules?.find(
      (rule): rule is { use: { loader: string; options: { jsc: { target: string } } } } =>
        typeof rule === 'object' && rule !== null && typeof rule.use === 'object' && /swc-loader/.test(String((rule.use as { loader?: unknown }).loader)),
    );
    // A bundler that no longer compiles TypeScript with SWC: fail the build rather than guess.
    if (!typescript?.use.options.jsc) throw new Error('the Temporal bundler has no SWC rule for TypeScript to set the target of');
    typescript.use.options.jsc.target = 'es2022';
    // Only the expression modules' imports are redirected: the shims' own `require` reaches the libraries.
    config.module!.rules!.push({ test: LAZY_LIBRARY_IMPORTERS, resolve: { alias: LAZY_LIBRARIES } });
    return config;
  },
  // Set up once per workflow context, before any run (workflows/sandbox.ts).
  preloadModules: [fromRoot('workflows', 'sandbox.ts')],
} satisfies Pick<BundleOptions, 'webpackConfigHook' | 'preloadModules'>;

/**
 * The SDK's worker, calling into workflow code with no deadline. The SDK
 * passes its `isolateExecutionTimeout` (default 5 s) to every `vm` call into
 * workflow code, several per workflow task, and Node.js enforces each with a
 * watchdog thread of its own, made and joined per call: about 70 µs of CPU a
 * call, more than a third of the workflow thread's time at 100 runs in flight
 * (docs/BENCHMARKS.md#gateway-load). A deadline would also do harm: one that
 * fires while microtasks run corrupts the async-hook stack and aborts the
 * whole process (nodejs/node#38503), so one slow task, at the default, took
 * every run of the worker down with it, and again after each restart. Work
 * in a task is bounded where it can grow instead: the expressions' step
 * budgets (src/shared/expressions.ts) and the foreach chunks. A task that
 * still overran would fail by Temporal's workflow task timeout, for its run
 * alone, and be tried again.
 *
 * `createWorkflowCreator` is the SDK's protected hook for how workflow code
 * is run; with no timeout, `vm` runs it without a watchdog.
 */
export class InterpreterWorker extends Worker {
  protected static override createWorkflowCreator(...[bundle, options, logger]: Parameters<typeof Worker.createWorkflowCreator>) {
    return super.createWorkflowCreator(bundle, { ...options, isolateExecutionTimeoutMs: NO_DEADLINE }, logger);
  }
}

/** What `vm` reads as "no timeout" (the SDK's type says a number of milliseconds). */
const NO_DEADLINE = undefined as unknown as number;

const silent = () => undefined;

/**
 * The workflow code bundled as a worker bundles it at start: for
 * `WORKFLOW_BUNDLE_PATH` (`npm run build:workflows`), the tests and the
 * benchmarks, which build it once for many workers. Returns the bundle's text.
 */
export async function buildWorkflowBundle(workflowsPath = WORKFLOWS_PATH): Promise<string> {
  const logger = { trace: silent, debug: silent, info: silent, warn: silent, error: silent, log: silent };
  const { code } = await bundleWorkflowCode({ workflowsPath, logger, ...WORKFLOW_BUNDLER_OPTIONS });
  return code;
}

export interface CreateWorkerOptions {
  config: Config;
  db: Kysely<Database>;
  connection: NativeConnection;
  /** A pre-built workflow bundle (tests build it once). @default the one at `WORKFLOW_BUNDLE_PATH`, else bundled at start */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** The activities to register. @default createActivities({ config, db, changes }) (the benchmarks swap one out) */
  activities?: ReturnType<typeof createActivities>;
  /** Postgres's change notices, so the activities keep opened connections until one changes. */
  changes?: ChangeFeed | undefined;
}

export async function createWorker({ config, db, connection, workflowBundle, activities, changes }: CreateWorkerOptions): Promise<Worker> {
  const registered = activities ?? createActivities({ config, db, changes });
  const options: WorkerOptions = {
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...bundleOptions(workflowBundle ?? (config.workflow.bundlePath ? { codePath: config.workflow.bundlePath } : undefined)),
    activities: registered,
    // Payload encryption, when configured: the same codec as the clients'.
    dataConverter: dataConverterFor(config.encryption),
    sinks: mirrorSinks(registered.recordRunEvents),
    interceptors: { activity: [heartbeatWhileRunning, reportUnexpectedActivityFailures] },
    // Each beat goes out as it is made, not held back to 80% of the timeout (src/worker/heartbeat.ts).
    maxHeartbeatThrottleInterval: beatIntervalMs(config.workflow.heartbeatTimeoutSeconds * 1000),
    maxConcurrentWorkflowTaskExecutions: config.workflow.maxConcurrentExecutions,
    maxConcurrentActivityTaskExecutions: config.workflow.queueConcurrency,
    maxCachedWorkflows: config.workflow.enableCaching ? undefined : 0,
    shutdownGraceTime: '10s',
  };
  // A version of a worker deployment when WORKER_DEPLOYMENT_NAME is set (src/worker/versioning.ts); unversioned otherwise.
  const deployment = workerDeploymentOptions(workerVersion(config));
  if (deployment) options.workerDeploymentOptions = deployment;
  return InterpreterWorker.create(options);
}

/** A bundle built ahead when there is one; otherwise the SDK bundles the workflow code as the worker starts. */
function bundleOptions(workflowBundle: WorkerOptions['workflowBundle']): Partial<WorkerOptions> {
  return workflowBundle ? { workflowBundle } : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: WORKFLOW_BUNDLER_OPTIONS };
}
