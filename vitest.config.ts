import { defineConfig } from 'vitest/config';

/** Runs on the real Temporal dev server and Postgres that the global setup brings up. */
const integration = {
  globalSetup: ['test/support/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks' as const,
  // Each fork hosts a Temporal worker with its workflow threads: room beyond Node's default heap.
  execArgv: ['--max-old-space-size=4096'],
};

/** Files that load a whole core on their own (a 5,000-item loop): run alone, after the rest. */
const HEAVY = ['test/integration/foreach.test.ts'];

/**
 * The core of the suite, run again on the real Temporal server on Postgres
 * (test/support/global-setup-server.ts): starts, approvals and signals, reset
 * and replay, continue-as-new, schedules, search attributes, idempotency,
 * child runs, replay histories, hostile expressions.
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
  'test/integration/hostile-expressions.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...integration,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: HEAVY,
          sequence: { groupOrder: 1 },
          maxWorkers: 2,
        },
      },
      {
        test: {
          ...integration,
          name: 'integration-heavy',
          include: HEAVY,
          sequence: { groupOrder: 2 },
          maxWorkers: 1,
        },
      },
      {
        test: {
          ...integration,
          globalSetup: ['test/support/global-setup-server.ts'],
          name: 'integration-server',
          include: ON_SERVER,
          sequence: { groupOrder: 3 },
          maxWorkers: 2,
        },
      },
    ],
  },
});
