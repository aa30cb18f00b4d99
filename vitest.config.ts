import { spawnSync } from 'node:child_process';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Files that take a minute or more, mostly waiting (outages, process starts,
 * a browser), longest first: they start first, whichever project they are in,
 * so the short files fill the other lanes beside them instead of leaving them
 * to run alone at the end. On a fresh clone vitest has no durations of its
 * own and would start files in name order, project by project.
 */
const LONG_FIRST = [
  'cluster-failover',
  'postgres-failover',
  'dev-stack',
  // Not beside cluster-failover from the start: each loads a core, and together they took twice as long.
  'bulk-recovery',
  'cli',
  'console',
  'hostile-expressions',
  'processes',
  'auth',
  'worker-failover',
  'retention',
  'control-flow',
  'approvals',
  'replay',
  'recovery',
].map((name) => `test/integration/${name}.test.ts`);

class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const at = LONG_FIRST.findIndex((path) => file.moduleId.endsWith(path));
      return at === -1 ? LONG_FIRST.length : at;
    };
    const group = (file: TestSpecification) => file.project.config.sequence.groupOrder;
    // Array.prototype.sort is stable: files of equal rank keep the order vitest gave them.
    return (await super.sort(files)).sort((a, b) => group(a) - group(b) || rank(a) - rank(b));
  }
}

/** Runs on the real Temporal dev server and Postgres that the global setup brings up. */
const integration = {
  globalSetup: ['test/support/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks' as const,
  // Each fork hosts a Temporal worker with its workflow threads: room beyond Node's default heap.
  execArgv: ['--max-old-space-size=4096'],
  // A fork runs file after file with the modules it has loaded (the SDK, the gateway, the
  // product's code): loading them again for every file was a third of the suite's time. Each
  // file still has its own database, task queue, worker and gateway (test/support/harness.ts).
  isolate: false,
};

/**
 * Both integration projects run at once, three files at a time between them,
 * after the unit tests: most of an integration file's time is waiting (on
 * timers, outages, processes starting), so a third lane on two cores keeps
 * them busy. Projects of one group share one count of workers.
 */
const INTEGRATION_LANES = { sequence: { groupOrder: 1 }, maxWorkers: 3 };

/**
 * The integration core: starts, approvals, control flow, deliveries, the
 * mirror, recovery, idempotency, the gateway. A project of its own (`core`),
 * which `npm test` runs on the production image's Node.js LTS
 * (scripts/lts-node.mjs) and the rest of the suite on the Node.js that runs
 * it; `npm run test:core` runs it alone, on that Node.js.
 */
const CORE = [
  'test/integration/runs.test.ts',
  'test/integration/approvals.test.ts',
  'test/integration/control-flow.test.ts',
  'test/integration/deliveries.test.ts',
  'test/integration/mirror.test.ts',
  'test/integration/recovery.test.ts',
  'test/integration/idempotency.test.ts',
  'test/integration/gateway.test.ts',
];

/**
 * Files that need the production topology's server (two workers and gateways against one Temporal on Postgres), or its mTLS;
 * and deploys under Worker Versioning, checked on the server production runs.
 */
const SERVER_ONLY = ['test/integration/cluster-failover.test.ts', 'test/integration/temporal-tls.test.ts', 'test/integration/worker-versioning.test.ts'];

/**
 * The core of the suite, run again on the real Temporal server on Postgres
 * (test/support/global-setup-server.ts): starts, approvals and signals, reset
 * and replay, continue-as-new, schedules, search attributes, idempotency,
 * child runs, replay histories; and the topology's failover.
 */
const ON_SERVER = [
  'test/integration/runs.test.ts',
  'test/integration/approvals.test.ts',
  'test/integration/control-flow.test.ts',
  'test/integration/recovery.test.ts',
  'test/integration/long-runs.test.ts',
  'test/integration/schedules.test.ts',
  'test/integration/executions-api.test.ts',
  'test/integration/idempotency.test.ts',
  'test/integration/calls.test.ts',
  'test/integration/replay.test.ts',
  ...SERVER_ONLY,
];

/**
 * The real server is built with Go: CI always runs that project (and fails if
 * Go is missing); elsewhere it runs where Go is installed, and the run says so
 * where it is not.
 */
const withServer = process.env.CI === 'true' || spawnSync('go', ['version']).status === 0;
if (!withServer) process.stdout.write('[test setup] Go is not installed: the core tests on a real Temporal server (integration-server) do not run; install Go to run them\n');

const onServer = {
  test: {
    ...integration,
    globalSetup: ['test/support/global-setup-server.ts'],
    name: 'integration-server',
    include: ON_SERVER,
    ...INTEGRATION_LANES,
  },
};

export default defineConfig({
  test: {
    sequence: { sequencer: LongFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Pure functions: one fork may run many files with the modules it has loaded.
          isolate: false,
          // A hang detector, not a speed bound: the exhaustive expression checks take seconds on a busy machine.
          testTimeout: 60_000,
          // Likewise for set-up, where vitest's default is 10 s: the TLS tests make four certificates with openssl.
          hookTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...integration,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: [...SERVER_ONLY, ...CORE],
          ...INTEGRATION_LANES,
        },
      },
      { test: { ...integration, name: 'core', include: CORE, ...INTEGRATION_LANES } },
      ...(withServer ? [onServer] : []),
    ],
  },
});
