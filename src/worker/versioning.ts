/**
 * Worker Versioning: which worker deployment version a worker runs as, and how
 * it behaves toward runs started on other versions (docs/DEPLOYMENT.md,
 * "Deploying a new build").
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerDeploymentOptions } from '@temporalio/worker';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { ROOT } from '../paths';
import { describeDeployment, isUnversioned } from '../temporal/deployments';

/**
 * The build id of this release when WORKER_BUILD_ID does not say: the package
 * version and, in a git checkout, the commit (`0.1.0-3f2a9c1d0e4b`); the
 * version alone where there is no git (set WORKER_BUILD_ID in the image then,
 * or two releases of one version would share a build id).
 */
export function releaseBuildId(root = ROOT): string {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    commit = undefined;
  }
  return commit ? `${version}-${commit}` : version;
}

/** The version this worker runs as, or undefined when versioning is off (WORKER_DEPLOYMENT_NAME unset). */
export function workerVersion(config: Config): WorkerDeploymentVersion | undefined {
  const { name, buildId } = config.deployment;
  return name === undefined ? undefined : { deploymentName: name, buildId: buildId ?? releaseBuildId() };
}

/**
 * The worker's deployment options. Runs default to AUTO_UPGRADE: the
 * interpreter's runs wait for days or months (approvals, delays), and pinned
 * they would keep every old build running until the last of them ends; its
 * changes are guarded by `patched()` and the recorded histories under
 * test/histories, which is what moving a run onto a new build needs. A
 * definition that wants its runs to finish on the build they started on says
 * `"versioning": "pinned"` (workflows/versioning.ts).
 */
export function workerDeploymentOptions(version: WorkerDeploymentVersion | undefined): WorkerDeploymentOptions | undefined {
  return version === undefined ? undefined : { useWorkerVersioning: true, version, defaultVersioningBehavior: 'AUTO_UPGRADE' };
}

/**
 * Makes `version` the deployment's current version when it is the
 * deployment's first: a versioned worker receives new runs only once its
 * version is current (or ramping), and on a first deploy there is nothing to
 * compare it with. Later builds wait for `npm run cli -- deploy promote`.
 * Waits (polling) until Temporal has seen the worker poll, which is what adds
 * the version to the deployment; gives up, logging, after `timeoutMs`.
 */
export async function becomeCurrentIfFirst(client: Client, version: WorkerDeploymentVersion, logger: Logger, { timeoutMs = 60_000, signal }: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!signal?.aborted && Date.now() < deadline) {
    // This loop is its own retry: a deployment not listed yet is asked about again on the next turn.
    const deployment = await describeDeployment(client, version.deploymentName, { unlistedPatienceMs: 0 }).catch(() => undefined);
    const versions = deployment?.workerDeploymentInfo?.versionSummaries ?? [];
    if (versions.some((v) => v.deploymentVersion?.buildId === version.buildId)) {
      const routing = deployment?.workerDeploymentInfo?.routingConfig;
      const first = versions.length === 1 && isUnversioned(routing?.currentDeploymentVersion) && isUnversioned(routing?.rampingDeploymentVersion);
      if (!first) return false;
      try {
        await client.workflowService.setWorkerDeploymentCurrentVersion({
          namespace: client.options.namespace,
          deploymentName: version.deploymentName,
          buildId: version.buildId,
          conflictToken: deployment?.conflictToken ?? null,
          identity: client.options.identity,
        });
        logger.info({ deployment: version.deploymentName, buildId: version.buildId }, 'first version of the worker deployment: made current');
        return true;
      } catch (err) {
        // Another worker of the same build got there first, or an operator did: nothing to do.
        logger.info({ err, deployment: version.deploymentName }, 'did not make this version current');
        return false;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (!signal?.aborted) logger.warn({ deployment: version.deploymentName, buildId: version.buildId }, 'Temporal did not list this worker version in time: promote it with npm run cli -- deploy promote');
  return false;
}
