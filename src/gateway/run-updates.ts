/**
 * Reaching a run's waiting steps: events and decisions go to the run, and,
 * when it has none waiting, to the chunks of a large `foreach` it is running
 * (child workflows with the same handlers), so a step waiting inside item 750
 * of a 1,000-item loop is as reachable as one at the top level.
 */
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { RunState } from '../shared/run';

/** Sends an update to the run, then to its running chunks; the run's own refusal stands when no chunk takes it. */
export async function updateRun<R, A>(client: Client, workflowId: string, update: string, arg: A): Promise<R> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate<R, [A]>(update, { args: [arg] });
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    for (const chunk of await runningChunks(client, workflowId)) {
      try {
        return await updateRun<R, A>(client, chunk, update, arg);
      } catch (inner) {
        // Refused there too, or the chunk ended meanwhile: try the next one.
        if (!(inner instanceof WorkflowUpdateFailedError) && !/already completed|not found/i.test(String(inner))) throw inner;
      }
    }
    throw err;
  }
}

/**
 * The run's live state with the steps, approvals and signals of its running
 * chunks merged in, as one run.
 */
export async function liveState(client: Client, workflowId: string): Promise<RunState> {
  const state = await client.workflow.getHandle(workflowId).query<RunState>('state');
  for (const chunk of state.chunks ?? []) {
    const inner = await liveState(client, chunk).catch(() => undefined);
    if (!inner) continue;
    state.currentSteps.push(...inner.currentSteps);
    state.waitingFor.push(...inner.waitingFor.filter((s) => !state.waitingFor.includes(s)));
    state.approvals.push(...inner.approvals);
    state.steps.push(...inner.steps);
  }
  return state;
}

async function runningChunks(client: Client, workflowId: string): Promise<string[]> {
  try {
    return (await client.workflow.getHandle(workflowId).query<RunState>('state')).chunks ?? [];
  } catch {
    return [];
  }
}
