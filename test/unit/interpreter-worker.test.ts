/**
 * The worker calls into workflow code with no deadline (src/worker/create-worker.ts):
 * Node.js enforces a `vm` timeout with a watchdog thread made and joined per
 * call, and one firing mid-microtask aborts the process.
 */
import vm from 'node:vm';
import { Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InterpreterWorker } from '../../src/worker/create-worker';

type CreatorHook = { createWorkflowCreator(bundle: unknown, options: Record<string, unknown>, logger: unknown): Promise<unknown> };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('InterpreterWorker', () => {
  it("asks the SDK for a workflow creator with no deadline and the rest of the worker's options", async () => {
    const sdk = vi.spyOn(Worker as unknown as CreatorHook, 'createWorkflowCreator').mockResolvedValue('creator');
    const options = { isolateExecutionTimeoutMs: 5_000, workflowThreadPoolSize: 1, reuseV8Context: true };
    await expect((InterpreterWorker as unknown as CreatorHook).createWorkflowCreator('bundle', options, 'logger')).resolves.toBe('creator');
    expect(sdk).toHaveBeenCalledExactlyOnceWith('bundle', { isolateExecutionTimeoutMs: undefined, workflowThreadPoolSize: 1, reuseV8Context: true }, 'logger');
    // The worker's own options are left as they were.
    expect(options.isolateExecutionTimeoutMs).toBe(5_000);
  });

  it('relies on vm running a script with no timeout given as it runs one without the option', () => {
    const context = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
    const script = new vm.Script('globalThis.calls = (globalThis.calls ?? 0) + 1');
    // What the SDK passes once it has no deadline: `timeout` present but undefined, which vm reads as none.
    expect(script.runInContext(context, { timeout: undefined, displayErrors: true })).toBe(1);
    expect(() => script.runInContext(context, { timeout: 0 })).toThrow(/timeout/);
  });
});
