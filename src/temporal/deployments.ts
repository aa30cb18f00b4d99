/**
 * A worker deployment as operators see it (`npm run cli -- deploy`,
 * `GET /api/deployments`): its builds, which is current and which ramping,
 * how many open runs each holds and whether an old one has drained; and the
 * moves between builds: ramp, promote, roll back. All of it over Temporal's
 * Worker Versioning API, which routes the runs; nothing is kept here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;
const { WorkerDeploymentVersionStatus, VersionDrainageStatus } = temporal.api.enums.v1;

type DeploymentInfo = proto.temporal.api.deployment.v1.IWorkerDeploymentInfo;
type VersionSummary = proto.temporal.api.deployment.v1.WorkerDeploymentInfo.IWorkerDeploymentVersionSummary;
type Version = proto.temporal.api.deployment.v1.IWorkerDeploymentVersion;

/** What a build is to the deployment, in Temporal's words. */
export const BUILD_STATES = ['current', 'ramping', 'draining', 'drained', 'inactive'] as const;
export type BuildState = (typeof BUILD_STATES)[number];

export interface BuildStatus {
  buildId: string;
  state: BuildState;
  /** The share of new runs it gets while ramping, in percent. */
  rampPercentage: number | null;
  /**
   * Runs still open on it (Temporal's visibility, `TemporalWorkerDeploymentVersion`);
   * null when the count could not be made.
   */
  openRuns: number | null;
  /** Whether the build can be stopped: no current or ramping role, and Temporal found no open pinned run on it. */
  canStop: boolean;
  createdAt: string | null;
  /** When it last became current, if ever. */
  currentSince: string | null;
}

export interface DeploymentStatus {
  name: string;
  current: string | null;
  ramping: { buildId: string; percentage: number } | null;
  builds: BuildStatus[];
}

/** A move Temporal refused or that cannot be made, said in one line. */
export class DeploymentError extends Error {
  constructor(
    readonly code: 'deployment_not_found' | 'unknown_build' | 'invalid_percentage' | 'nothing_to_roll_back_to',
    message: string,
  ) {
    super(message);
    this.name = 'DeploymentError';
  }
}

const GRPC_NOT_FOUND = 5;

/** How long a describe is retried while Temporal lists the deployment but its description is refused. */
const DESCRIBE_PATIENCE_MS = 10_000;

/**
 * How long a deployment must stay out of Temporal's list before a refused
 * describe means it does not exist. The list is read from visibility, which
 * trails the deployment's workflow: while that workflow continues as new, the
 * list can briefly leave the deployment out.
 */
const UNLISTED_PATIENCE_MS = 3_000;

/**
 * Temporal's description of the deployment, or a {@link DeploymentError} when
 * it has none of that name.
 *
 * Temporal answers a describe by querying the deployment's own workflow, which
 * continues as new at every change (a build's first poll, a ramp, a promote);
 * a describe that lands in that moment is refused as not found, and the list
 * of deployments, read from visibility, may leave it out for as long. So a
 * refusal is retried: for `patienceMs` while Temporal lists the deployment,
 * and for `unlistedPatienceMs` while it does not, before it is not found.
 */
export async function describeDeployment(
  client: Client,
  name: string,
  { patienceMs = DESCRIBE_PATIENCE_MS, unlistedPatienceMs = UNLISTED_PATIENCE_MS }: { patienceMs?: number; unlistedPatienceMs?: number } = {},
): Promise<proto.temporal.api.workflowservice.v1.DescribeWorkerDeploymentResponse> {
  const deadline = Date.now() + patienceMs;
  let unlistedSince: number | undefined;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
    try {
      return await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName: name });
    } catch (err) {
      if ((err as { code?: unknown }).code !== GRPC_NOT_FOUND) throw err;
      const now = Date.now();
      unlistedSince = (await listed(client, name)) ? undefined : (unlistedSince ?? now);
      if (now + wait > deadline || (unlistedSince !== undefined && now + wait > unlistedSince + unlistedPatienceMs)) {
        throw new DeploymentError('deployment_not_found', `worker deployment "${name}" not found in namespace ${client.options.namespace}: start a worker with WORKER_DEPLOYMENT_NAME=${name} first`);
      }
    }
    await sleep(wait);
  }
}

/** Whether Temporal lists a deployment of that name; true where it would not list (a refusal is then worth retrying). */
async function listed(client: Client, name: string): Promise<boolean> {
  try {
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await client.workflowService.listWorkerDeployments({ namespace: client.options.namespace, pageSize: 1_000, nextPageToken });
      if ((page.workerDeployments ?? []).some((d) => d.name === name)) return true;
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return false;
  } catch {
    return true;
  }
}

/** Whether a routing entry names no version (Temporal's `__unversioned__`, or nothing). */
export function isUnversioned(version: Version | null | undefined): boolean {
  return !version?.buildId;
}

/** The value of the `TemporalWorkerDeploymentVersion` search attribute for a build. */
export function versionSearchValue(deploymentName: string, buildId: string): string {
  return `${deploymentName}:${buildId}`;
}

const time = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null => {
  if (!t?.seconds) return null;
  const seconds = Number(t.seconds);
  return seconds > 0 ? new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString() : null;
};

/**
 * Whether an enum field holds `value`: the client decodes enums to their
 * names (`WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING`), protobuf to numbers.
 */
function is<E extends Record<string, string | number>>(field: unknown, enumeration: E, key: keyof E & string): boolean {
  return field === key || field === enumeration[key];
}

function stateOf(summary: VersionSummary, info: DeploymentInfo): BuildState {
  const buildId = summary.deploymentVersion?.buildId;
  if (buildId && info.routingConfig?.currentDeploymentVersion?.buildId === buildId) return 'current';
  if (buildId && info.routingConfig?.rampingDeploymentVersion?.buildId === buildId) return 'ramping';
  const drainage = summary.drainageStatus ?? summary.drainageInfo?.status;
  if (is(summary.status, WorkerDeploymentVersionStatus, 'WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED') || is(drainage, VersionDrainageStatus, 'VERSION_DRAINAGE_STATUS_DRAINED')) {
    return 'drained';
  }
  if (is(summary.status, WorkerDeploymentVersionStatus, 'WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING') || is(drainage, VersionDrainageStatus, 'VERSION_DRAINAGE_STATUS_DRAINING')) {
    return 'draining';
  }
  return 'inactive';
}

/** Open runs on a build, counted by Temporal's visibility; null when it would not count. */
async function openRunsOn(client: Client, deploymentName: string, buildId: string): Promise<number | null> {
  const query = `TemporalWorkerDeploymentVersion = '${versionSearchValue(deploymentName, buildId).replaceAll("'", "\\'")}' AND ExecutionStatus = 'Running'`;
  try {
    return (await client.workflow.count(query)).count;
  } catch {
    return null;
  }
}

/** The deployment's builds, newest first, with their roles, open runs and drainage. */
export async function deploymentStatus(client: Client, name: string): Promise<DeploymentStatus> {
  const info = (await describeDeployment(client, name)).workerDeploymentInfo ?? {};
  const routing = info.routingConfig;
  const summaries = [...(info.versionSummaries ?? [])].sort((a, b) => (time(b.createTime) ?? '').localeCompare(time(a.createTime) ?? ''));
  const builds = await Promise.all(
    summaries.map(async (summary): Promise<BuildStatus> => {
      const buildId = summary.deploymentVersion?.buildId ?? '';
      const state = stateOf(summary, info);
      const openRuns = await openRunsOn(client, name, buildId);
      return {
        buildId,
        state,
        rampPercentage: state === 'ramping' ? (routing?.rampingVersionPercentage ?? 0) : null,
        openRuns,
        canStop: state === 'drained' || (state === 'inactive' && openRuns === 0),
        createdAt: time(summary.createTime),
        currentSince: time(summary.currentSinceTime),
      };
    }),
  );
  return {
    name,
    current: isUnversioned(routing?.currentDeploymentVersion) ? null : routing!.currentDeploymentVersion!.buildId!,
    ramping: isUnversioned(routing?.rampingDeploymentVersion)
      ? null
      : { buildId: routing!.rampingDeploymentVersion!.buildId!, percentage: routing?.rampingVersionPercentage ?? 0 },
    builds,
  };
}

/** The deployment's description, checked to hold `buildId`. */
async function withBuild(client: Client, name: string, buildId: string) {
  const described = await describeDeployment(client, name);
  const builds = (described.workerDeploymentInfo?.versionSummaries ?? []).map((v) => v.deploymentVersion?.buildId).filter((b): b is string => !!b);
  if (!builds.includes(buildId)) {
    throw new DeploymentError(
      'unknown_build',
      `worker deployment "${name}" has no build "${buildId}"${builds.length ? ` (its builds: ${builds.join(', ')})` : ''}: a build appears once one of its workers polls`,
    );
  }
  return described;
}

/**
 * Makes `buildId` current: new runs, and auto-upgrade runs at their next
 * task, go to it; a ramp of it ends. Answers the build it replaced.
 */
export async function promote(client: Client, name: string, buildId: string): Promise<{ previous: string | null }> {
  const described = await withBuild(client, name, buildId);
  const answer = await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: client.options.namespace,
    deploymentName: name,
    buildId,
    conflictToken: described.conflictToken,
    identity: client.options.identity,
  });
  return { previous: isUnversioned(answer.previousDeploymentVersion) ? null : answer.previousDeploymentVersion!.buildId! };
}

/**
 * Sends `percentage` percent of new runs (chosen by workflow id) and of
 * auto-upgrade runs to `buildId`, the rest to the current build; 0 keeps it
 * ramping with none.
 */
export async function ramp(client: Client, name: string, buildId: string, percentage: number): Promise<void> {
  if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
    throw new DeploymentError('invalid_percentage', `the ramp percentage must be a number from 0 to 100, not ${percentage}`);
  }
  const described = await withBuild(client, name, buildId);
  if (described.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId === buildId) {
    throw new DeploymentError('unknown_build', `build "${buildId}" is already current in "${name}": ramp another build, or roll back`);
  }
  await client.workflowService.setWorkerDeploymentRampingVersion({
    namespace: client.options.namespace,
    deploymentName: name,
    buildId,
    percentage,
    conflictToken: described.conflictToken,
    identity: client.options.identity,
  });
}

/**
 * Undoes the last move: while a build ramps, ends the ramp (every new run
 * goes to the current build again); otherwise makes the build that was
 * current before the current one current again: of the other builds, the
 * one that most recently became current (Temporal's `lastCurrentTime`;
 * where a server does not record it, the one most recently taken out of
 * routing).
 */
export async function rollback(client: Client, name: string): Promise<{ from: string | null; to: string; ended: 'ramp' | 'current' }> {
  const described = await describeDeployment(client, name);
  const info = described.workerDeploymentInfo ?? {};
  const current = info.routingConfig?.currentDeploymentVersion?.buildId || null;
  const ramping = info.routingConfig?.rampingDeploymentVersion?.buildId || null;
  if (ramping && current) {
    await client.workflowService.setWorkerDeploymentRampingVersion({
      namespace: client.options.namespace,
      deploymentName: name,
      buildId: '',
      percentage: 0,
      conflictToken: described.conflictToken,
      identity: client.options.identity,
    });
    return { from: ramping, to: current, ended: 'ramp' };
  }
  const previous = previousCurrent(info.versionSummaries ?? [], current);
  if (!previous) {
    throw new DeploymentError('nothing_to_roll_back_to', `worker deployment "${name}" has no build that was current before ${current ? `"${current}"` : 'now'}`);
  }
  await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: client.options.namespace,
    deploymentName: name,
    buildId: previous,
    conflictToken: described.conflictToken,
    identity: client.options.identity,
  });
  return { from: current, to: previous, ended: 'current' };
}

/** What a rollback reads of a build's summary: the times Temporal records of its routing. */
type Stamp = { seconds?: unknown; nanos?: number | null } | null | undefined;
interface RoutingHistory {
  deploymentVersion?: { buildId?: string | null } | null;
  lastCurrentTime?: Stamp;
  lastDeactivationTime?: Stamp;
}

/**
 * Of the builds other than `current`, the one that was current most recently:
 * by when each last became current where the server records it
 * (`lastCurrentTime`), else (server 1.29) by when each last left routing.
 */
export function previousCurrent(summaries: readonly RoutingHistory[], current: string | null): string | undefined {
  const others = summaries.filter((s) => s.deploymentVersion?.buildId && s.deploymentVersion.buildId !== current);
  const byCurrent = others.some((s) => time(s.lastCurrentTime) !== null);
  return others
    .map((s) => ({ buildId: s.deploymentVersion!.buildId!, at: byCurrent ? time(s.lastCurrentTime) : time(s.lastDeactivationTime) }))
    .filter((c): c is { buildId: string; at: string } => c.at !== null)
    .sort((a, b) => b.at.localeCompare(a.at))[0]?.buildId;
}

/** The build a run's latest workflow task ran on, and how the run moves between builds; null for a run of unversioned workers. */
export interface RunBuild {
  deployment: string;
  buildId: string;
  behavior: 'pinned' | 'auto-upgrade' | null;
}

/** A run's {@link RunBuild}, from Temporal's description of it (one call: for one run's page, not for lists). */
export async function runBuild(client: Client, workflowId: string): Promise<RunBuild | null> {
  const info = (await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo;
  const version = info?.deploymentVersion;
  if (!version?.buildId) return null;
  const pinned = is(info?.behavior, temporal.api.enums.v1.VersioningBehavior, 'VERSIONING_BEHAVIOR_PINNED');
  const auto = is(info?.behavior, temporal.api.enums.v1.VersioningBehavior, 'VERSIONING_BEHAVIOR_AUTO_UPGRADE');
  return { deployment: version.deploymentName ?? '', buildId: version.buildId, behavior: pinned ? 'pinned' : auto ? 'auto-upgrade' : null };
}
