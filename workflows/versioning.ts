/**
 * The interpreter's versioning behaviour under Worker Versioning: the
 * worker's default (AUTO_UPGRADE, src/worker/versioning.ts) unless the run's
 * definition chose `"versioning": "pinned"`, which its start wrote into the
 * memo. Read from the memo of the run's first event, and from the version of
 * the worker that ran the run's first task (none on an unversioned worker), so
 * every replay decides the same.
 */
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { VERSIONING_MEMO } from '../src/shared/versioning';

function behaviourOfRun(): WorkflowDefinitionOptions {
  const { memo, currentDeploymentVersion } = workflowInfo();
  // Temporal refuses a task completed with a behaviour by an unversioned worker: only a versioned one declares it.
  // (An unversioned worker still reports a build id, with no deployment name.)
  return memo?.[VERSIONING_MEMO] === 'pinned' && currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'PINNED' } : {};
}

/** Declares the behaviour on each of the interpreter's workflow functions. */
export function declareVersioningBehaviour(...workflows: ((...args: never[]) => Promise<unknown>)[]): void {
  for (const workflow of workflows) setWorkflowOptions(behaviourOfRun, workflow);
}
