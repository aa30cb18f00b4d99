/**
 * The activity of `gateway-load`'s plain baseline: a GET as anyone would
 * write one for a workflow of their own, with `fetch`, none of the product's
 * checks (no input schema, no address guard, no size limit). Registered by
 * scripts/bench/plain-worker.ts beside the product's activities.
 */

/** Answers the status; a failure status fails the attempt, for Temporal to retry. */
export async function plainGet(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return res.status;
}
