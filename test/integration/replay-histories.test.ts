/**
 * Determinism guard for runs already open. Every history under test/histories/
 * — recorded from representative runs of earlier versions of the interpreter
 * (test/integration/replay.test.ts records them) — must replay on the current
 * workflow code without a DeterminismViolationError.
 *
 * Replay needs no server, so this file runs once, in the `integration` project;
 * replay.test.ts replays fresh runs on both the dev server and the real one.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { HISTORIES, HISTORY_PREFIX, replayHistories } from '../support/replay';


it('replays the recorded histories of earlier interpreter versions', async () => {
  const files = (await readdir(HISTORIES)).filter((f) => f.startsWith(HISTORY_PREFIX) && f.endsWith('.json'));
  expect(files.length).toBeGreaterThanOrEqual(2);
  const histories = await Promise.all(
    files.map(async (f) => ({ workflowId: f, history: JSON.parse(await readFile(join(HISTORIES, f), 'utf8')) as unknown })),
  );
  const results = await replayHistories(histories);
  expect(results).toEqual(files.map((f) => ({ workflowId: f, error: undefined })));
});
