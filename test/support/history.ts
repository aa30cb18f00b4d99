import type { WorkflowHandle } from '@temporalio/client';

/**
 * A run's whole history as text with every payload decoded, so a test can
 * search it for values: payload bytes would otherwise appear base64-encoded,
 * and a search for a secret would pass whether or not it was there.
 */
export async function readableHistory(handle: WorkflowHandle): Promise<string> {
  return JSON.stringify(await handle.fetchHistory(), (key, value: unknown) =>
    key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value,
  );
}

/** The summaries of a run's timers, in the order they started, as the Temporal UI shows them. */
export async function timerSummaries(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => {
      const data = e.userMetadata?.summary?.data;
      return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : '';
    });
}
