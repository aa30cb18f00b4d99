/**
 * Deploys under Worker Versioning, on the real Temporal server on Postgres
 * (the integration-server project, over mTLS): build A (a worker
 * process, which makes itself current as the deployment's first build) takes
 * runs waiting at an approval; build B starts beside it and takes nothing
 * until ramped (both builds take new runs at 50%) and then promoted (new runs
 * on B, A's pinned run stays and finishes on A, an auto-upgrade run moves to
 * B); `npm run cli -- deploy rollback` sends new runs back to A in one
 * command. Every wait is on a condition Temporal reports.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeVersioningBehavior } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecution } from '../../db/executions';
import { inject } from 'vitest';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';
import { deploymentStatus, promote, ramp, rollback } from '../../src/temporal/deployments';
import { buildWorkflowBundle, createWorker } from '../../src/worker/create-worker';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment, productCommand, productProcesses } from '../support/processes';
import { runTimeout } from '../support/timeouts';

const DEPLOYMENT = `wfa-test-${randomUUID().slice(0, 8)}`;
const A = 'build-a';
const B = 'build-b';
/** Runs started while B ramps at 50%: the chance that all land on one build is 2 in 2^RAMPED. */
const RAMPED = 16;

let h: Harness;
const processes = productProcesses();
let native: NativeConnection | undefined;
let workerB: Worker | undefined;
let runningB: Promise<void> | undefined;

beforeAll(async () => {
  h = await createHarness({ worker: false, env: { WORKER_DEPLOYMENT_NAME: DEPLOYMENT, WORKER_BUILD_ID: A } });
  for (const [key, versioning] of [
    ['waits-auto', undefined],
    ['waits-pinned', 'pinned'],
  ] as const) {
    const created = await h.api('POST', '/api/workflows', {
      key,
      name: key,
      ...(versioning ? { versioning } : {}),
      steps: [
        { id: 'review', type: 'approval', role: 'admin', timeout: '1h', onTimeout: 'reject' },
        { id: 'done', type: 'set', values: { outcome: '{{ steps.review.output.outcome }}' } },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
});

afterAll(async () => {
  if (workerB?.getState() === 'RUNNING') workerB.shutdown();
  await runningB;
  await native?.close();
  await processes.killAll();
  await h?.close();
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

/** Starts a run of `key`; answers its handle and execution id. */
async function start(key: string): Promise<{ executionId: string; handle: WorkflowHandle }> {
  const res = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData: {} });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return { executionId: res.body.executionId, handle: h.client.workflow.getHandle(res.body.workflowId) };
}

/** The build that ran the run's latest workflow task, and its behaviour, once Temporal reports one. */
async function buildOf(handle: WorkflowHandle): Promise<{ buildId: string; behavior: string }> {
  return eventually(async () => {
    const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    const buildId = info?.deploymentVersion?.buildId;
    return buildId ? { buildId, behavior: String(decodeVersioningBehavior(info?.behavior)) } : undefined;
  }, 60_000, `the build of ${handle.workflowId}`);
}

/**
 * Waits until Temporal lists `buildId` in the deployment with both of its task
 * queues (workflow and activity): a build is promoted only once it polls every
 * task queue the current one does.
 */
async function listed(buildId: string): Promise<void> {
  await eventually(async () => {
    const described = await h.client.workflowService.describeWorkerDeploymentVersion({
      namespace: h.config.temporal.namespace,
      deploymentVersion: { deploymentName: DEPLOYMENT, buildId },
    });
    const queues = described.workerDeploymentVersionInfo?.taskQueueInfos ?? [];
    return queues.filter((q) => q.name === h.config.temporal.taskQueue).length >= 2 ? true : undefined;
  }, 60_000, `build ${buildId} polling both task queues in ${DEPLOYMENT}`);
}

async function approve(executionId: string): Promise<void> {
  const res = await h.api('POST', `/api/executions/${executionId}/approvals`, { step: 'review', decision: 'approve' });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

/** The build ids of the WorkflowTaskCompleted events of a run's history, in order. */
async function taskBuilds(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowTaskCompletedEventAttributes)
    .filter((a) => a !== null && a !== undefined)
    .map((a) => a.deploymentVersion?.buildId ?? a.workerVersion?.buildId ?? '');
}

const cli = promisify(execFile);

/**
 * A build whose interpreter records a memo change and a timer before anything
 * else, as a change made without `patched()` would: a history recorded on the
 * product's code fails on it with a non-determinism error (checked below by
 * replaying one). Bundled from a wrapper module in a
 * temporary folder that sees the project's node_modules.
 */
async function incompatibleBundle(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wfa-incompatible-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'), 'dir');
  const workflows = join(process.cwd(), 'workflows');
  await writeFile(
    join(dir, 'index.ts'),
    [
      "import { sleep, upsertMemo } from '@temporalio/workflow';",
      `import { interpreterWorkflowV2 as original } from '${workflows}/index';`,
      `import { declareVersioningBehaviour } from '${workflows}/versioning';`,
      `export * from '${workflows}/index';`,
      'export async function interpreterWorkflowV2(...args: Parameters<typeof original>): ReturnType<typeof original> {',
      "  upsertMemo({ incompatible: true });",
      "  await sleep('1ms');",
      '  return original(...args);',
      '}',
      'declareVersioningBehaviour(interpreterWorkflowV2);',
      '',
    ].join('\n'),
  );
  const path = join(dir, 'bundle.js');
  await writeFile(path, await buildWorkflowBundle(join(dir, 'index.ts')));
  return path;
}

const cleanups: (() => Promise<void>)[] = [];

describe('worker versioning', () => {
  it('deploys build B beside A, ramps, promotes and rolls back, with pinned runs staying on A', { timeout: runTimeout({ runs: RAMPED + 12, steps: 2, extra: '120s' }) }, async () => {
    // Build A, the deployment's first: its worker makes it current.
    await processes.start('src/worker/main.ts', harnessEnvironment(h, { WORKER_DEPLOYMENT_NAME: DEPLOYMENT, WORKER_BUILD_ID: A, LOG_LEVEL: 'info' }));
    await eventually(async () => ((await deploymentStatus(h.client, DEPLOYMENT)).current === A ? true : undefined), 60_000, `${A} current`);

    const pinned = await start('waits-pinned');
    const auto = await start('waits-auto');
    expect(await buildOf(pinned.handle)).toEqual({ buildId: A, behavior: 'PINNED' });
    expect(await buildOf(auto.handle)).toEqual({ buildId: A, behavior: 'AUTO_UPGRADE' });

    // Build B starts beside A and takes no run until it is ramped or promoted.
    native = await NativeConnection.connect(temporalConnectionOptions(h.config.temporal));
    workerB = await createWorker({
      config: { ...h.config, deployment: { name: DEPLOYMENT, buildId: B } },
      db: h.db,
      connection: native,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    runningB = workerB.run();
    await listed(B);
    const beforeRamp = await start('waits-auto');
    expect((await buildOf(beforeRamp.handle)).buildId).toBe(A);

    // Ramped at 50%: new runs land on both builds.
    await ramp(h.client, DEPLOYMENT, B, 50);
    const ramped = await Promise.all(Array.from({ length: RAMPED }, () => start('waits-auto')));
    const landed = await Promise.all(ramped.map(async (r) => (await buildOf(r.handle)).buildId));
    const onB = landed.filter((b) => b === B).length;
    expect(onB, `runs on ${B} of ${RAMPED} at 50%: ${landed.join(', ')}`).toBeGreaterThan(0);
    expect(RAMPED - onB, `runs on ${A} of ${RAMPED} at 50%`).toBeGreaterThan(0);

    // Promoted: new runs on B; the pinned run stays on A and finishes there; the auto-upgrade one moves to B.
    expect(await promote(h.client, DEPLOYMENT, B)).toEqual({ previous: A });
    const afterPromote = await Promise.all(Array.from({ length: 3 }, () => start('waits-auto')));
    for (const r of afterPromote) expect((await buildOf(r.handle)).buildId).toBe(B);
    await approve(pinned.executionId);
    await approve(auto.executionId);
    expect(await pinned.handle.result()).toBeDefined();
    expect(await auto.handle.result()).toBeDefined();
    expect(new Set(await taskBuilds(pinned.handle))).toEqual(new Set([A]));
    const autoBuilds = await taskBuilds(auto.handle);
    expect(autoBuilds[0]).toBe(A);
    expect(autoBuilds.at(-1)).toBe(B);

    const status = await deploymentStatus(h.client, DEPLOYMENT);
    expect(status).toMatchObject({ name: DEPLOYMENT, current: B, ramping: null });
    expect(status.builds.map((b) => b.buildId).sort()).toEqual([A, B]);
    expect(status.builds.find((b) => b.buildId === A)?.state).toMatch(/^(draining|drained|inactive)$/);
    // The gateway shows the same to admins, and each run's build on its page.
    const shown = await h.api('GET', '/api/deployments');
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({ name: DEPLOYMENT, current: B, ramping: null });
    expect(shown.body.builds.find((b: { buildId: string }) => b.buildId === B)).toMatchObject({ state: 'current', canStop: false });
    const page = await h.api('GET', `/api/executions/${pinned.executionId}`);
    expect(page.body.build).toEqual({ deployment: DEPLOYMENT, buildId: A, behavior: 'pinned' });
    expect((await h.api('GET', `/api/executions/${afterPromote[0]!.executionId}`)).body.build).toEqual({ deployment: DEPLOYMENT, buildId: B, behavior: 'auto-upgrade' });

    // Rolled back in one command: new runs land on A again.
    const { stdout } = await cli(process.execPath, productCommand('src/cli/main.ts', '--json', 'deploy', 'rollback'), {
      env: harnessEnvironment(h, { WORKER_DEPLOYMENT_NAME: DEPLOYMENT }),
    });
    expect(JSON.parse(stdout)).toMatchObject({ deployment: DEPLOYMENT, from: B, to: A, ended: 'current' });
    const afterRollback = await Promise.all(Array.from({ length: 3 }, () => start('waits-auto')));
    for (const r of afterRollback) expect((await buildOf(r.handle)).buildId).toBe(A);

    // During a ramp, a rollback ends the ramp and leaves the current build as it is.
    await ramp(h.client, DEPLOYMENT, B, 50);
    expect(await rollback(h.client, DEPLOYMENT)).toEqual({ from: B, to: A, ended: 'ramp' });
    expect(await deploymentStatus(h.client, DEPLOYMENT)).toMatchObject({ current: A, ramping: null });
  });

  it('keeps a pinned run off a build that could not replay it', { timeout: runTimeout({ runs: 2, steps: 2, extra: '90s' }) }, async () => {
    // After the test above: A is current. Build C's interpreter would fail every history recorded on A.
    const connection = (native ??= await NativeConnection.connect(temporalConnectionOptions(h.config.temporal)));
    const pinned = await start('waits-pinned');
    expect(await buildOf(pinned.handle)).toEqual({ buildId: A, behavior: 'PINNED' });

    const codePath = await incompatibleBundle();
    const workerC = await createWorker({
      config: { ...h.config, deployment: { name: DEPLOYMENT, buildId: 'build-c' } },
      db: h.db,
      connection,
      workflowBundle: { codePath },
    });
    const runningC = workerC.run();
    try {
      await listed('build-c');
      await promote(h.client, DEPLOYMENT, 'build-c');
      const fresh = await start('waits-pinned');
      expect((await buildOf(fresh.handle)).buildId).toBe('build-c');

      // The pinned run finishes on A with no failed task; C runs the runs it started (once past C's extra timer).
      await eventually(async () => ((await findExecution(h.db, fresh.executionId))?.current_step === 'review' ? true : undefined), 60_000, 'the run on C at its approval');
      await approve(pinned.executionId);
      await approve(fresh.executionId);
      await Promise.all([pinned.handle.result(), fresh.handle.result()]);
      const events = (await pinned.handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
      expect(new Set(await taskBuilds(pinned.handle))).toEqual(new Set([A]));
      expect(new Set(await taskBuilds(fresh.handle))).toEqual(new Set(['build-c']));
      // Had it moved, C would have failed it: its history does not replay on C's code.
      const replayed = Worker.runReplayHistory({ workflowBundle: { codePath }, replayName: 'incompatible' }, await pinned.handle.fetchHistory(), pinned.handle.workflowId);
      await expect(replayed).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation/);
    } finally {
      if (workerC.getState() === 'RUNNING') workerC.shutdown();
      await runningC;
    }
  });

  it('says in one line what is wrong with a deploy command', async () => {
    const env = harnessEnvironment(h, { WORKER_DEPLOYMENT_NAME: DEPLOYMENT });
    const runWith = (environment: NodeJS.ProcessEnv, ...args: string[]) =>
      cli(process.execPath, productCommand('src/cli/main.ts', 'deploy', ...args), { env: environment }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr.trim() }),
      );
    const run = (...args: string[]) => runWith(env, ...args);
    // This project's server takes mTLS only: without the certificates, the command says its connection was plain.
    const plain = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('TEMPORAL_TLS')));
    const [unknownBuild, badPercent, noDeployment, withoutTls] = await Promise.all([
      run('promote', 'no-such-build'),
      run('ramp', B, '120'),
      run('--deployment', 'no-such-deployment', 'status'),
      runWith(plain, 'status'),
    ]);
    expect(unknownBuild).toMatchObject({ code: 1, stderr: expect.stringMatching(/^wfa: worker deployment "wfa-test-\w+" has no build "no-such-build"/) });
    expect(badPercent).toEqual({ code: 2, stderr: 'wfa: the percentage must be a number from 0 to 100, not 120' });
    expect(noDeployment).toMatchObject({ code: 1, stderr: expect.stringMatching(/^wfa: worker deployment "no-such-deployment" not found/) });
    expect(withoutTls).toMatchObject({ code: 3, stderr: expect.stringMatching(/^wfa: cannot reach Temporal at \S+: .*; this connection is plain: if that Temporal takes TLS only, set its TEMPORAL_TLS_\* settings/) });
    expect(withoutTls.stderr.split('\n')).toHaveLength(1);
  });
});
