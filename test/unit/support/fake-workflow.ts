/**
 * A stand-in for `@temporalio/workflow` where workflow-side modules are
 * unit-tested outside a workflow: workflow info, patches, timers, conditions,
 * search attributes, details, proxies and sinks answer from {@link fake},
 * which each test sets and reads; failures, cancellation and the rest are the
 * SDK's own. A test file mocks the package with it:
 *
 *   vi.mock('@temporalio/workflow', async (original) => (await import('./support/fake-workflow')).mocked(await original()));
 *
 * with `vi.useFakeTimers({ toFake: ['Date'] })` for workflow time: a timer moves it on.
 */
import type * as wf from '@temporalio/workflow';
import { vi } from 'vitest';

/** Workflow time when a test begins. */
export const START = Date.parse('2026-12-06T10:00:00.000Z');

export interface Call {
  activity: string;
  args: unknown[];
  options: unknown;
}

/** What workflow code did, and what it will be answered. */
export const fake = {
  workflowType: 'interpreterWorkflowV2',
  historyLength: 3,
  /** Patch ids `patched` answers true for; every id asked is kept in {@link asked}. */
  patches: new Set<string>(),
  asked: [] as string[],
  /** Timers started, by duration and summary (they resolve at once and move the clock on). */
  sleeps: [] as { ms: number; summary: string | undefined }[],
  details: [] as string[],
  searchAttributes: [] as unknown[],
  /** Activity calls, local and ordinary, in order. */
  calls: [] as Call[],
  /** How an activity answers; absent ones answer undefined. */
  answers: {} as Record<string, (...args: unknown[]) => unknown>,
  sinks: [] as { fn: string; args: unknown[] }[],
  /** Query and update handlers set, by name, with their validators. */
  handlers: new Map<string, { handler: (...args: never[]) => unknown; validator?: (...args: never[]) => void }>(),
  /** `condition(fn, timeout)`: true if `fn` holds now, else false (as if the timeout passed). */
  conditions: [] as (number | string | undefined)[],
  reset(): void {
    this.workflowType = 'interpreterWorkflowV2';
    this.historyLength = 3;
    this.patches = new Set();
    this.asked = [];
    this.sleeps = [];
    this.details = [];
    this.searchAttributes = [];
    this.calls = [];
    this.answers = {};
    this.sinks = [];
    this.handlers = new Map();
    this.conditions = [];
    vi.setSystemTime(START);
  },
};

function activities(options: unknown): unknown {
  return new Proxy(
    {},
    {
      get: (_target, activity: string) =>
        async (...args: unknown[]) => {
          fake.calls.push({ activity, args, options });
          return fake.answers[activity]?.(...args);
        },
    },
  );
}

/** The package with its workflow-context functions answered by {@link fake}. */
export function mocked(original: typeof wf): typeof wf {
  return {
    ...original,
    workflowInfo: () =>
      ({
        workflowId: 'wf-1',
        runId: 'run-1',
        workflowType: fake.workflowType,
        historyLength: fake.historyLength,
        attempt: 1,
        startTime: new Date('2026-12-06T09:00:00.000Z'),
        runStartTime: new Date('2026-12-06T09:00:00.000Z'),
        continueAsNewSuggested: false,
      }) as wf.WorkflowInfo,
    patched: (id: string) => {
      fake.asked.push(id);
      return fake.patches.has(id);
    },
    sleep: async (ms: number | string, options?: { summary?: string }) => {
      fake.sleeps.push({ ms: Number(ms), summary: options?.summary });
      vi.setSystemTime(Date.now() + Number(ms));
    },
    condition: (async (fn: () => boolean, timeout?: number | string) => {
      fake.conditions.push(timeout);
      return fn();
    }) as typeof wf.condition,
    setHandler: ((definition: { name: string }, handler: (...args: never[]) => unknown, options?: { validator?: (...args: never[]) => void }) => {
      fake.handlers.set(definition.name, { handler, ...(options?.validator ? { validator: options.validator } : {}) });
    }) as typeof wf.setHandler,
    setCurrentDetails: (details: string) => {
      fake.details.push(details);
    },
    upsertSearchAttributes: (attributes: unknown) => {
      fake.searchAttributes.push(attributes);
    },
    proxyActivities: activities as typeof wf.proxyActivities,
    proxyLocalActivities: activities as typeof wf.proxyLocalActivities,
    proxySinks: (() =>
      new Proxy(
        {},
        { get: () => new Proxy({}, { get: (_t, fn: string) => (...args: unknown[]) => fake.sinks.push({ fn, args }) }) },
      )) as typeof wf.proxySinks,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, trace: () => undefined } as unknown as typeof wf.log,
  };
}
