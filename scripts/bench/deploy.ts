/**
 * `deploy`: a new build deployed, ramped, promoted and rolled back with runs
 * open, on the real Temporal server on Postgres, as docs/DEPLOYMENT.md
 * ("Deploying a new build") tells operators to do it. Build A (a worker
 * process, the deployment's first build, so current) takes 100 runs that
 * wait: 40 pinned and 30 auto-upgrade at an approval, 30 auto-upgrade in a
 * delay, each after a first mail. Build B is A's code with a change of
 * command order (a memo upsert and a timer before the run begins) behind
 * `patched()`, as a change to the interpreter must be made; without the
 * guard, the same change fails A's histories on replay (checked here on one).
 * Then, with `npm run cli -- deploy` as the operator types it: B ramped to
 * 50 % (40 new runs, counted by the build that ran them), promoted (20 new
 * runs), the approvals given, the delays ended, every run closed, and a
 * rollback in one command (20 new runs, and how long until they land on A).
 * Counted at the end: where each run ran, failed workflow tasks (a
 * non-determinism error shows as one), each mail at the SMTP peer once.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { entryFile, ROOT } from '../../src/paths';
import { deploymentStatus } from '../../src/temporal/deployments';
import { buildWorkflowBundle } from '../../src/worker/create-worker';
import { freePort } from '../lib/ports';
import { startSmtpSink } from '../lib/sinks';
import { stopChild } from '../lib/supervisor';
import type { Say } from '../lib/temporal';
import { TEMPORAL_SERVER_VERSION } from '../lib/temporal-server';
import type { Benchmark } from './benchmarks';
import { until } from './measure';
import { gatewayApi, startServerStack } from './server-stack';

export const DEPLOY_SIZES = {
  pinnedAtApproval: 40,
  autoAtApproval: 30,
  autoInDelay: 30,
  ramped: 40,
  afterPromote: 20,
  afterRollback: 20,
  /** The delay runs wait through: long enough to be still waiting when B is promoted. */
  delay: '90s',
} as const;

const DEPLOYMENT = 'wfa-deploy-drill';
const A = 'build-a';
const B = 'build-b';
const PATCH = 'deploy-drill-b';

const waiting = (key: string, wait: Record<string, unknown>, versioning?: 'pinned') => ({
  key,
  name: key,
  ...(versioning ? { versioning } : {}),
  steps: [
    { id: 'first', type: 'email', to: '{{ input.user }}+first@example.test', subject: 'first', text: 'hello' },
    wait,
    { id: 'second', type: 'email', to: '{{ input.user }}+second@example.test', subject: 'second', text: 'hello' },
  ],
});
const APPROVAL = { id: 'review', type: 'approval', role: 'admin', timeout: '1h', onTimeout: 'reject' };
const DEFINITIONS = [
  waiting('drill-pinned', APPROVAL, 'pinned'),
  waiting('drill-auto', APPROVAL),
  waiting('drill-delay', { id: 'pause', type: 'delay', duration: DEPLOY_SIZES.delay }),
  { key: 'drill-quick', name: 'drill-quick', steps: [{ id: 'note', type: 'set', values: { done: true } }] },
];

interface Run {
  kind: 'pinned' | 'auto' | 'delay' | 'ramped' | 'promoted' | 'rolled back';
  user: string | undefined;
  executionId: string;
  workflowId: string;
}

/**
 * A's interpreter with a memo upsert and a timer before the run begins: behind
 * `patched()` (build B), or not (what a change made without the guard would be).
 */
async function changedBundle(dir: string, guarded: boolean): Promise<string> {
  const workflows = join(ROOT, 'workflows');
  const source = join(dir, guarded ? 'guarded.ts' : 'unguarded.ts');
  const change = ['  upsertMemo({ changedBuild: true });', "  await sleep('1ms');"];
  await writeFile(
    source,
    [
      "import { patched, sleep, upsertMemo } from '@temporalio/workflow';",
      `import { interpreterWorkflowV2 as original } from '${workflows}/index';`,
      `import { declareVersioningBehaviour } from '${workflows}/versioning';`,
      `export * from '${workflows}/index';`,
      'export async function interpreterWorkflowV2(...args: Parameters<typeof original>): ReturnType<typeof original> {',
      ...(guarded ? [`  if (patched('${PATCH}')) {`, ...change.map((line) => `  ${line}`), '  }'] : change),
      '  return original(...args);',
      '}',
      'declareVersioningBehaviour(interpreterWorkflowV2);',
      '',
    ].join('\n'),
  );
  const path = source.replace(/\.ts$/, '.js');
  await writeFile(path, await buildWorkflowBundle(source));
  return path;
}

/** The build ids of a run's completed workflow tasks, in order, and how many of its tasks failed. */
async function tasksOf(handle: WorkflowHandle): Promise<{ builds: string[]; failed: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  return {
    builds: events
      .map((e) => e.workflowTaskCompletedEventAttributes)
      .filter((a) => a !== null && a !== undefined)
      .map((a) => a.deploymentVersion?.buildId ?? a.workerVersion?.buildId ?? ''),
    failed: events.filter((e) => e.workflowTaskFailedEventAttributes).length,
  };
}

export const deploy: Benchmark = {
  name: 'deploy',
  summary: 'a new build deployed with 100 runs waiting, ramped, promoted and rolled back with `npm run cli -- deploy`, on the real Temporal server on Postgres',
  workload: () => {
    const s = DEPLOY_SIZES;
    return (
      `${s.pinnedAtApproval + s.autoAtApproval + s.autoInDelay} runs waiting on build A (${s.pinnedAtApproval} pinned and ${s.autoAtApproval} auto-upgrade at an approval, ` +
      `${s.autoInDelay} auto-upgrade in a ${s.delay} delay); build B ramped to 50 % (${s.ramped} runs), promoted (${s.afterPromote}), rolled back (${s.afterRollback}); ` +
      `Temporal server ${TEMPORAL_SERVER_VERSION} on a Postgres of the benchmark's own`
    );
  },
  async run(_env, say) {
    const size = DEPLOY_SIZES;
    const tell: Say = (line) => say(`deploy: ${line}`);
    const scratch = await mkdtemp(join(tmpdir(), 'wfa-bench-deploy-'));
    const stops: (() => Promise<unknown>)[] = [() => rm(scratch, { recursive: true, force: true })];
    try {
      // --- Postgres, the Temporal server on it, the SMTP peer ------------------------------------------
      const { productUrl, apiKey, server, client } = await startServerStack({ say: tell, scratch, stops, keyName: 'deploy drill' });
      const smtp = await startSmtpSink();
      stops.push(() => smtp.close());

      // --- the bundles: A's, B's (the change behind patched()), and the change unguarded ----------------
      await symlink(join(ROOT, 'node_modules'), join(scratch, 'node_modules'), 'dir');
      const bundleA = join(scratch, 'a.js');
      await writeFile(bundleA, await buildWorkflowBundle());
      const bundleB = await changedBundle(scratch, true);
      const unguarded = await changedBundle(scratch, false);

      const environment = {
        ...process.env,
        DATABASE_URL: productUrl,
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: 'default',
        WORKER_DEPLOYMENT_NAME: DEPLOYMENT,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_FROM: 'automation@example.test',
        RATE_LIMIT_PER_MINUTE: '1000000',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
      };
      let failed: string | undefined;
      const spawnProduct = (name: string, entry: string, env: NodeJS.ProcessEnv) => {
        const child = spawn(process.execPath, [entryFile(entry, true)], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
        child.once('exit', (code) => {
          failed ??= `${name} exited with code ${code}`;
        });
        stops.push(() => stopChild(child));
        return child;
      };
      spawnProduct('build A\'s worker', 'src/worker/main.ts', { ...environment, WORKER_BUILD_ID: A, WORKFLOW_BUNDLE_PATH: bundleA });
      const gatewayPort = await freePort();
      spawnProduct('the gateway', 'src/gateway/main.ts', { ...environment, PORT: String(gatewayPort) });
      const gateway = `http://127.0.0.1:${gatewayPort}`;
      const api = gatewayApi(gateway, apiKey);
      const alive = async <T>(check: () => Promise<T>) => {
        if (failed) throw new Error(failed);
        return check();
      };
      await until(`${A} current`, () => alive(async () => (await deploymentStatus(client, DEPLOYMENT)).current === A));
      await until('the gateway answering', () => alive(async () => (await fetch(`${gateway}/readyz`)).ok));
      for (const definition of DEFINITIONS) {
        const created = await api('POST', '/api/workflows', definition);
        if (created.status !== 201) throw new Error(`creating ${definition.key} answered ${created.status}: ${JSON.stringify(created.body)}`);
      }
      let serial = 0;
      const start = async (kind: Run['kind'], key: string): Promise<Run> => {
        const user = key === 'drill-quick' ? undefined : `user${++serial}`;
        const res = await api('POST', `/api/workflows/${key}/execute`, { triggerData: user ? { user } : {} });
        if (res.status !== 202) throw new Error(`starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
        return { kind, user, executionId: String(res.body?.executionId), workflowId: String(res.body?.workflowId) };
      };
      const startMany = (n: number, kind: Run['kind'], key: string) => Promise.all(Array.from({ length: n }, () => start(kind, key)));
      const firstTaskBuild = async (run: Run): Promise<string> => {
        let build = '';
        await until(`the first task of ${run.workflowId}`, async () => {
          build = (await tasksOf(client.workflow.getHandle(run.workflowId))).builds[0] ?? '';
          return build !== '';
        });
        return build;
      };
      const cli = async (...args: string[]) => {
        const { stdout } = await promisify(execFile)(process.execPath, [entryFile('src/cli/main.ts', true), '--json', 'deploy', ...args], { cwd: ROOT, env: environment });
        return stdout.trim();
      };

      // --- 100 runs waiting on A ----------------------------------------------------------------------
      const runs: Run[] = [
        ...(await startMany(size.pinnedAtApproval, 'pinned', 'drill-pinned')),
        ...(await startMany(size.autoAtApproval, 'auto', 'drill-auto')),
        ...(await startMany(size.autoInDelay, 'delay', 'drill-delay')),
      ];
      const waitingRuns = [...runs];
      await until('every waiting run\'s first mail', async () => smtp.messages.length >= waitingRuns.length, 300_000);
      tell(`${waitingRuns.length} runs waiting on ${A}, ${smtp.messages.length} first mails sent`);

      // --- B beside A: no run until ramped ------------------------------------------------------------
      spawnProduct('build B\'s worker', 'src/worker/main.ts', { ...environment, WORKER_BUILD_ID: B, WORKFLOW_BUNDLE_PATH: bundleB });
      await until(`${B} listed in the deployment`, () => alive(async () => (await deploymentStatus(client, DEPLOYMENT)).builds.some((b) => b.buildId === B)));
      const rampAt = Date.now();
      await cli('ramp', B, '50');
      const ramped = await startMany(size.ramped, 'ramped', 'drill-quick');
      const rampedBuilds = await Promise.all(ramped.map(firstTaskBuild));
      tell(`ramped to 50 %: ${rampedBuilds.filter((b) => b === B).length} of ${ramped.length} new runs on ${B}`);
      await cli('promote', B);
      const promoted = await startMany(size.afterPromote, 'promoted', 'drill-quick');
      const promotedBuilds = await Promise.all(promoted.map(firstTaskBuild));
      tell(`promoted: ${promotedBuilds.filter((b) => b === B).length} of ${promoted.length} new runs on ${B}`);

      // --- the waiting runs go on: approvals given, delays ended -----------------------------------------
      for (const run of waitingRuns.filter((r) => r.kind !== 'delay')) {
        const res = await api('POST', `/api/executions/${run.executionId}/approvals`, { step: 'review', decision: 'approve' });
        if (res.status >= 300) throw new Error(`approving ${run.executionId} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
      await Promise.all(waitingRuns.map((r) => client.workflow.getHandle(r.workflowId).result().catch(() => undefined)));
      tell(`every waiting run closed, ${smtp.messages.length} mails`);

      // --- rolled back in one command -------------------------------------------------------------------
      const rollbackAt = Date.now();
      const rolledBack = await cli('rollback');
      const afterRollback = await startMany(size.afterRollback, 'rolled back', 'drill-quick');
      const rollbackBuilds = await Promise.all(afterRollback.map(firstTaskBuild));
      const landedMs = Date.now() - rollbackAt;
      tell(`rolled back (${rolledBack}): ${rollbackBuilds.filter((b) => b === A).length} of ${afterRollback.length} new runs on ${A}`);
      runs.push(...ramped, ...promoted, ...afterRollback);

      // --- the counts -----------------------------------------------------------------------------------
      const closed = await Promise.all(runs.map((r) => client.workflow.getHandle(r.workflowId).result().then(() => 'COMPLETED', (e: unknown) => `failed: ${String(e)}`)));
      const tasks = await Promise.all(runs.map((r) => tasksOf(client.workflow.getHandle(r.workflowId))));
      const byKind = (kind: Run['kind']) => runs.map((r, i) => ({ run: r, closed: closed[i]!, tasks: tasks[i]! })).filter((x) => x.run.kind === kind);
      const onlyOn = (build: string, xs: ReturnType<typeof byKind>) => xs.filter((x) => x.tasks.builds.every((b) => b === build)).length;
      const movedAtoB = (xs: ReturnType<typeof byKind>) => xs.filter((x) => x.tasks.builds[0] === A && x.tasks.builds.at(-1) === B).length;
      const completed = (xs: ReturnType<typeof byKind>) => xs.filter((x) => x.closed === 'COMPLETED').length;
      const failedTasks = tasks.reduce((n, t) => n + t.failed, 0);

      const perRecipient = new Map<string, number>();
      for (const mail of smtp.messages) for (const to of mail.to) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
      const expected = waitingRuns.flatMap((r) => [`${r.user}+first@example.test`, `${r.user}+second@example.test`]);
      const duplicates = expected.filter((to) => (perRecipient.get(to) ?? 0) > 1);
      const missing = expected.filter((to) => !perRecipient.has(to));

      // Had a pinned run moved to a build changed without the guard, its history would not have replayed.
      const pinnedHandle = client.workflow.getHandle(waitingRuns[0]!.workflowId);
      const replayedUnguarded = await Worker.runReplayHistory({ workflowBundle: { codePath: unguarded }, replayName: 'unguarded' }, await pinnedHandle.fetchHistory(), pinnedHandle.workflowId).then(
        () => 'replayed',
        (err: unknown) => (/[Nn]ondeterminism|DeterminismViolation/.test(String(err)) ? 'non-determinism error' : `failed otherwise: ${String(err)}`),
      );
      const status = await deploymentStatus(client, DEPLOYMENT);
      // B's change ran in the runs B started, and in none that began on A.
      const changed = async (xs: Run[]) =>
        (await Promise.all(xs.map(async (r) => (await client.workflow.getHandle(r.workflowId).describe()).memo?.changedBuild === true))).filter(Boolean).length;
      const changedOnB = await changed(promoted);
      const changedFromA = await changed(waitingRuns);

      const pinned = byKind('pinned');
      const auto = byKind('auto');
      const delay = byKind('delay');
      const rampedOnB = rampedBuilds.filter((b) => b === B).length;
      const rows: string[][] = [
        ['pinned runs at an approval: completed, every task on A', `${completed(pinned)}, ${onlyOn(A, pinned)}`, `${pinned.length}, ${pinned.length}`, 'pinned to the build that started them'],
        ['auto-upgrade runs at an approval: completed, moved A → B', `${completed(auto)}, ${movedAtoB(auto)}`, `${auto.length}, ${auto.length}`, 'first task on A, last on B'],
        ['auto-upgrade runs in a delay: completed, moved A → B', `${completed(delay)}, ${movedAtoB(delay)}`, `${delay.length}, ${delay.length}`, `a ${size.delay} delay, promoted inside it`],
        ['new runs at a 50 % ramp, on B', String(rampedOnB), `about ${ramped.length / 2}`, `of ${ramped.length}; the rest on A`],
        ['new runs after promote, on B', String(promotedBuilds.filter((b) => b === B).length), String(promoted.length), ''],
        ["B's change: in runs started on B after promote, in runs begun on A", `${changedOnB}, ${changedFromA}`, `${promoted.length}, 0`, "the memo B's code sets when patched() is true"],
        ['new runs after rollback, on A', String(rollbackBuilds.filter((b) => b === A).length), String(afterRollback.length), `all landed within ${(landedMs / 1000).toFixed(1)} s of the command`],
        ['failed workflow tasks, all runs', String(failedTasks), '0', 'a non-determinism error would show as one'],
        ['mails at the SMTP peer', String(smtp.messages.length), String(expected.length), `${duplicates.length} duplicated, ${missing.length} missing`],
        ['a pinned run\'s history on the change without patched()', replayedUnguarded, 'non-determinism error', 'what pinning spared it'],
      ];
      const met =
        completed(pinned) === pinned.length &&
        onlyOn(A, pinned) === pinned.length &&
        completed(auto) + completed(delay) === auto.length + delay.length &&
        movedAtoB(auto) + movedAtoB(delay) === auto.length + delay.length &&
        rampedOnB > 0 &&
        rampedOnB < ramped.length &&
        promotedBuilds.every((b) => b === B) &&
        changedOnB === promoted.length &&
        changedFromA === 0 &&
        rollbackBuilds.every((b) => b === A) &&
        failedTasks === 0 &&
        duplicates.length === 0 &&
        missing.length === 0 &&
        smtp.messages.length === expected.length &&
        replayedUnguarded === 'non-determinism error';
      return {
        table: {
          title: `deploy — ${deploy.summary}`,
          latencyNote: '',
          throughputUnit: '',
          rows: [],
          counts: { headers: ['measured', 'count', 'expected', 'detail'], rows },
          notes: [
            `the Temporal server ${TEMPORAL_SERVER_VERSION} on a Postgres of the benchmark's own; one worker process per build, one gateway; each run's build read from the WorkflowTaskCompleted events of its history`,
            `build B is build A's workflow code with a memo upsert and a 1 ms timer before each run begins, behind patched('${PATCH}'); the ramp, promote and rollback are \`npm run cli -- --json deploy …\`, as an operator runs them`,
            `from the ramp to the end of the rollback check: ${((Date.now() - rampAt) / 1000).toFixed(0)} s; the deployment afterwards: current ${status.current}, ramping ${status.ramping ?? 'none'}, builds ${status.builds.map((b) => `${b.buildId} ${b.state}`).join(', ')}`,
          ],
        },
        targets: [
          {
            goal: 'with 100 runs waiting on build A: pinned runs finish on A, auto-upgrade runs move to B under its patch, a 50 % ramp splits new runs, promote sends them to B, one rollback command sends them back to A; no failed task, every mail once',
            met,
            measured: rows.map((r) => `${r[0]}: ${r[1]}`).join('; '),
          },
        ],
      };
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    }
  },
};
