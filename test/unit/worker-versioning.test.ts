/**
 * Worker Versioning's pure parts: its settings, the build id a release gets,
 * the worker's deployment options, which build a rollback returns to, and the
 * CLI's status table. The moves themselves are tested on the dev server
 * (test/integration/worker-versioning.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/commands/deploy';
import { ConfigError, loadConfig, loadTemporalSettings } from '../../src/config';
import { parseDefinition } from '../../src/shared/definition';
import { DeploymentError, describeDeployment, previousCurrent } from '../../src/temporal/deployments';
import { releaseBuildId, workerDeploymentOptions, workerVersion } from '../../src/worker/versioning';

const base = { DATABASE_URL: 'postgres://app@db.example:5432/workflows' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const at = (iso: string) => ({ seconds: String(Date.parse(iso) / 1000), nanos: 0 });

describe('worker versioning settings', () => {
  it('leave workers unversioned unless a deployment is named', () => {
    const config = loadConfig(base);
    expect(config.deployment).toEqual({ name: undefined, buildId: undefined });
    expect(workerVersion(config)).toBeUndefined();
    expect(workerDeploymentOptions(undefined)).toBeUndefined();
  });

  it('make a named deployment a version that auto-upgrades by default', () => {
    const config = loadConfig({ ...base, WORKER_DEPLOYMENT_NAME: 'automation', WORKER_BUILD_ID: '0.2.0-abc' });
    expect(workerDeploymentOptions(workerVersion(config))).toEqual({
      useWorkerVersioning: true,
      version: { deploymentName: 'automation', buildId: '0.2.0-abc' },
      defaultVersioningBehavior: 'AUTO_UPGRADE',
    });
  });

  it('refuse names Temporal would split, and reserved build ids', () => {
    expect(problemsOf({ WORKER_DEPLOYMENT_NAME: 'a.b' })).toEqual([expect.stringMatching(/^WORKER_DEPLOYMENT_NAME must be 1 to 100 letters/)]);
    expect(problemsOf({ WORKER_BUILD_ID: '__unversioned__' })).toEqual([expect.stringMatching(/^WORKER_BUILD_ID must be/)]);
  });

  it('are read without a database for the deploy command', () => {
    expect(loadTemporalSettings({ WORKER_DEPLOYMENT_NAME: 'automation', TEMPORAL_ADDRESS: 't:7233' })).toMatchObject({
      temporal: { address: 't:7233' },
      deployment: { name: 'automation' },
    });
  });
});

describe('a release build id', () => {
  it('is the package version alone where there is no git checkout', () => {
    const root = mkdtempSync(join(tmpdir(), 'wfa-release-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ version: '3.1.4' }));
    // A temporary folder is outside any git checkout.
    expect(releaseBuildId(`${root}/`)).toBe('3.1.4');
  });

  it('adds the commit in a checkout', () => {
    expect(releaseBuildId()).toMatch(/^\d+\.\d+\.\d+-[0-9a-f]{12}$/);
  });
});

describe('a rollback', () => {
  it('returns to the build that most recently left routing, never the current one or one never routed to', () => {
    const summaries = [
      { deploymentVersion: { buildId: 'c' }, lastDeactivationTime: null },
      { deploymentVersion: { buildId: 'b' }, lastDeactivationTime: at('2026-12-06T10:00:00Z') },
      { deploymentVersion: { buildId: 'a' }, lastDeactivationTime: at('2026-12-01T10:00:00Z') },
      { deploymentVersion: { buildId: 'new' } },
    ];
    expect(previousCurrent(summaries, 'c')).toBe('b');
    expect(previousCurrent(summaries.slice(2), 'c')).toBe('a');
    expect(previousCurrent([{ deploymentVersion: { buildId: 'new' } }], 'c')).toBeUndefined();
  });

  it('prefers when a build last became current, where the server records it', () => {
    const summaries = [
      { deploymentVersion: { buildId: 'ramped-only' }, lastDeactivationTime: at('2026-12-06T12:00:00Z') },
      { deploymentVersion: { buildId: 'was-current' }, lastCurrentTime: at('2026-12-05T12:00:00Z'), lastDeactivationTime: at('2026-12-06T11:00:00Z') },
    ];
    expect(previousCurrent(summaries, 'now')).toBe('was-current');
  });
});

/**
 * A client whose Temporal refuses the first `refusals` describes as not found
 * and lists the deployments named in `listed`; counts the describes.
 */
function refusingClient(refusals: number, listed: string[]) {
  const calls = { describe: 0 };
  const notFound = Object.assign(new Error('5 NOT_FOUND: Worker Deployment not found'), { code: 5 });
  const workflowService = {
    describeWorkerDeployment: async ({ deploymentName }: { deploymentName: string }) => {
      calls.describe += 1;
      if (calls.describe <= refusals) throw notFound;
      return { workerDeploymentInfo: { name: deploymentName } };
    },
    listWorkerDeployments: async () => ({ workerDeployments: listed.map((name) => ({ name })), nextPageToken: new Uint8Array() }),
  };
  return { client: { workflowService, options: { namespace: 'default' } } as unknown as Client, calls };
}

describe('describing a deployment', () => {
  it('retries a refusal while Temporal lists the deployment, as it does while the deployment continues as new', async () => {
    const { client, calls } = refusingClient(2, ['automation']);
    expect(await describeDeployment(client, 'automation')).toEqual({ workerDeploymentInfo: { name: 'automation' } });
    expect(calls.describe).toBe(3);
  });

  it('says a deployment Temporal does not list is not found, once it has stayed out of the list a while', async () => {
    const { client, calls } = refusingClient(Infinity, ['automation']);
    const err = await describeDeployment(client, 'automaton', { unlistedPatienceMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeploymentError);
    expect((err as DeploymentError).code).toBe('deployment_not_found');
    expect((err as Error).message).toMatch(/"automaton" not found in namespace default: start a worker with WORKER_DEPLOYMENT_NAME=automaton/);
    expect(calls.describe).toBeGreaterThan(1);
  });

  it('retries a refusal while the list briefly leaves the deployment out, as visibility does while it continues as new', async () => {
    const { client, calls } = refusingClient(3, []);
    expect(await describeDeployment(client, 'automation')).toEqual({ workerDeploymentInfo: { name: 'automation' } });
    expect(calls.describe).toBe(4);
  });

  it('gives up on a listed deployment whose description stays refused', async () => {
    const { client, calls } = refusingClient(Infinity, ['automation']);
    await expect(describeDeployment(client, 'automation', { patienceMs: 200 })).rejects.toBeInstanceOf(DeploymentError);
    expect(calls.describe).toBeGreaterThan(1);
  });
});

describe('a definition', () => {
  it('may pin its runs, and nothing else', () => {
    const steps = [{ id: 's', type: 'set', values: {} }];
    expect(parseDefinition({ key: 'k', name: 'n', versioning: 'pinned', steps })).toMatchObject({ ok: true });
    expect(parseDefinition({ key: 'k', name: 'n', versioning: 'sometimes', steps })).toMatchObject({ ok: false });
  });
});

describe('deploy status', () => {
  it('prints the routing, then a line per build', () => {
    const text = formatStatus({
      name: 'automation',
      current: 'b2',
      ramping: null,
      builds: [
        { buildId: 'b2', state: 'current', rampPercentage: null, openRuns: 12, canStop: false, createdAt: '2026-12-06T10:00:00.000Z', currentSince: null },
        { buildId: 'b1', state: 'drained', rampPercentage: null, openRuns: 0, canStop: true, createdAt: '2026-12-01T10:00:00.000Z', currentSince: null },
      ],
    });
    expect(text.split('\n')).toEqual([
      'deployment: automation',
      'current:    b2',
      'ramping:    none',
      '',
      'build  state    open runs  can stop  created',
      'b2     current  12         no        2026-12-06T10:00:00.000Z',
      'b1     drained  0          yes       2026-12-01T10:00:00.000Z',
    ]);
  });
});
