import { resolve } from 'node:path';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { mirrorSinks } from '../../src/worker/mirror-sink';

/** Where recorded histories are kept (test/integration/replay.test.ts records them), and how their names begin. */
export const HISTORIES = resolve('test', 'histories');
export const HISTORY_PREFIX = 'interpreter-';

/**
 * Replays histories on the current workflow bundle, as a worker would after a
 * deploy. Each result names its history and the error replay raised, if any
 * (a DeterminismViolationError when the code records different commands).
 */
export async function replayHistories(histories: { workflowId: string; history: unknown }[]): Promise<{ workflowId: string; error: string | undefined }[]> {
  const results = [];
  for await (const result of Worker.runReplayHistories(
    // The sinks the worker registers (a replay never calls them).
    { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'determinism-guard', sinks: mirrorSinks(async () => undefined) },
    histories.map(({ workflowId, history }) => ({
      workflowId,
      // Saved as protobuf JSON (what `JSON.stringify` of a fetched history gives); read back the same way.
      history: proto.temporal.api.history.v1.History.fromObject(history as Record<string, unknown>),
    })),
  )) {
    results.push({ workflowId: result.workflowId, error: result.error ? String(result.error) : undefined });
  }
  return results;
}
