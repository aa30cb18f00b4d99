/**
 * A long step's heartbeats reach Temporal as the worker makes them, every
 * quarter of the heartbeat timeout, not every 80% of it as the SDK would send
 * them by itself: with the SDK's spacing a beat 2 s late on a loaded machine
 * timed out a live attempt, and the next attempt took over a send the live
 * one was still making (src/worker/heartbeat.ts).
 */
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { runTimeout } from '../support/timeouts';

const HEARTBEAT_TIMEOUT_S = 4;
/** How far apart the SDK sends beats by itself: 80% of the timeout. */
const SDK_SPACING_MS = 0.8 * HEARTBEAT_TIMEOUT_S * 1000;
const TIMEOUT = runTimeout({ extra: '30s' });

let h: Harness;
let peer: HttpSink;

beforeAll(async () => {
  peer = await startHttpSink();
  h = await createHarness({ env: { HTTP_ALLOWED_HOSTS: '127.0.0.1', WORKFLOW_HEARTBEAT_TIMEOUT: String(HEARTBEAT_TIMEOUT_S) } });
});

afterAll(async () => {
  await h?.close();
  await peer?.close();
});

describe('a step that runs long', () => {
  it("is heard of by Temporal more often than the SDK's own spacing of beats", { timeout: TIMEOUT }, async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The peer holds the step's request until the test has seen what it looks for.
    peer.onArrival = () => released;
    const saved = await h.api('POST', '/api/workflows', {
      key: 'long-call',
      name: 'Long call',
      // A write: an ordinary activity, heartbeated (a read would go first as a local activity).
      steps: [{ id: 'slow', type: 'http', method: 'POST', url: `${peer.url}/slow` }],
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await h.api('POST', `/api/workflows/${saved.body.id}/execute`, { triggerData: {} });
    const handle = h.client.workflow.getHandle(started.body.workflowId);

    // Each new `lastHeartbeatTime` Temporal records for the held attempt.
    const beats: number[] = [];
    try {
      const gaps = await eventually(
        async () => {
          const pending = (await handle.describe()).raw.pendingActivities?.[0];
          const at = optionalTsToMs(pending?.lastHeartbeatTime);
          if (at !== undefined && at !== beats.at(-1)) beats.push(at);
          const spacing = beats.slice(1).map((beat, i) => beat - beats[i]!);
          return spacing.some((gap) => gap < SDK_SPACING_MS) ? spacing : undefined;
        },
        TIMEOUT / 2,
        `two beats closer than ${SDK_SPACING_MS} ms`,
      );
      expect(gaps.length).toBeGreaterThan(0);
    } finally {
      release();
      peer.onArrival = undefined;
    }
    // The held attempt was never timed out: the step ended on its first attempt.
    await handle.result();
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : []));
    expect(attempts).toEqual([1]);
  });
});
