/**
 * The interpreter's workflow types, and which changes apply to a run.
 *
 * A change to the workflow code is guarded by a patch (`wf.patched`), so a run
 * already open replays as it ran; but every patch costs each new run a marker
 * and a search-attribute upsert in its history, for as long as the code
 * checks it. So the patches are folded now and then into a new workflow type:
 * its runs get every change made before it, checking no patch, while the
 * older type stays registered, patches and all, for the runs started as it.
 * A change made after the newest type is guarded with `wf.patched` as usual.
 */
import * as wf from '@temporalio/workflow';
import { INTERPRETER_WORKFLOW_V1 } from '../src/shared/run';

/** Whether this run is of the first type, `interpreterWorkflow`, whose later changes are patches. */
export function isFirstType(): boolean {
  return wf.workflowInfo().workflowType === INTERPRETER_WORKFLOW_V1;
}

/**
 * Whether a change made before `interpreterWorkflowV2` applies to this run:
 * always for a V2 run; for a run of the first type, as `wf.patched(patchId)`
 * answers (so only then is a marker recorded).
 */
export function changeApplies(patchId: string): boolean {
  return !isFirstType() || wf.patched(patchId);
}

/**
 * The type a run starts its children as (called definitions, `foreach`
 * chunks): its own, so a run replays with the children it started.
 */
export function childWorkflowType(): string {
  return wf.workflowInfo().workflowType;
}
