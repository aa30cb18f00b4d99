/**
 * The previous build on this build's schema. Migrations only expand (a
 * column or table added, nothing the previous build uses dropped or
 * tightened: docs/DEPLOYMENT.md, "Database migrations"), so during a deploy
 * the build before the newest migration keeps working on the schema it adds,
 * and the runs it leaves open finish on the new build.
 *
 * The previous build is taken from git: the parent of the last commit that
 * changed db/migrations (the newest build without the newest migration), or
 * the commit or tag PREVIOUS_RELEASE names (the release you run, to check the
 * step to this one). Its worker runs as that build ran it, from its own
 * TypeScript through tsx, bundling its own workflow code, against a database
 * this build migrated; it does every kind of write a worker makes (the
 * mirror, the run's log, the delivery ledger, an approval). Then its worker
 * stops, this build's starts, the run it left waiting finishes here without
 * sending its mail again, and this build replays the histories the previous
 * one recorded.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink, type SmtpSink } from '../../scripts/lib/sinks';
import { ROOT } from '../../src/paths';
import { isTerminal } from '../../src/shared/status';
import { createHarness, eventually, type Harness } from '../support/harness';
import { harnessEnvironment } from '../support/processes';
import { replayHistories } from '../support/replay';
import { runTimeout } from '../support/timeouts';

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The commit of the previous build, and how it was chosen. */
function previousBuild(): { commit: string; why: string } {
  const named = process.env.PREVIOUS_RELEASE;
  const ref = named ?? `${git('log', '-1', '--format=%H', '--', 'db/migrations')}^`;
  try {
    return { commit: git('rev-parse', '--verify', `${ref}^{commit}`), why: named ? `PREVIOUS_RELEASE=${named}` : 'the build before the newest migration' };
  } catch {
    throw new Error(`the previous build, ${ref}, is not in this clone's history (a shallow clone? fetch more of it, or set PREVIOUS_RELEASE to a commit it has)`);
  }
}

const previous = previousBuild();
const SHORT = previous.commit.slice(0, 12);

const DEFINITION = {
  key: 'across-releases',
  name: 'Across releases',
  steps: [
    { id: 'greet', type: 'set', values: { greeting: '{{ "hi " & input.name }}' } },
    { id: 'mail', type: 'email', to: 'ops@example.test', subject: 'hello', text: '{{ vars.greeting }}' },
    { id: 'review', type: 'approval', role: 'admin', timeout: '1h', onTimeout: 'reject' },
    { id: 'done', type: 'set', values: { outcome: '{{ steps.review.output.outcome }}' } },
  ],
};

let h: Harness;
let smtp: SmtpSink;
/** The mail settings of both builds' workers: the test's SMTP sink. */
const mailTo = () => ({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'automation@example.test' });
let tree: string;
let previousWorker: ChildProcess | undefined;
let printed = '';

beforeAll(async () => {
  smtp = await startSmtpSink();
  h = await createHarness({ worker: false, env: mailTo() });
  const created = await h.api('POST', '/api/workflows', DEFINITION);
  expect(created.status, JSON.stringify(created.body)).toBe(201);

  // The previous build's files, beside this build's installed packages.
  tree = await mkdtemp(join(tmpdir(), 'wfa-previous-'));
  execFileSync('sh', ['-c', `git archive --format=tar ${previous.commit} | tar -x -C '${tree}'`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
});

afterAll(async () => {
  await stopPreviousWorker();
  await h?.close();
  await smtp?.close();
  if (tree) await rm(tree, { recursive: true, force: true });
});

async function stopPreviousWorker(): Promise<void> {
  const child = previousWorker;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // As a deploy stops it: SIGTERM, the worker finishes its tasks and exits.
  child.kill('SIGTERM');
  await exited;
}

/** Waits until a worker polls the harness's workflow task queue (whichever build it is). */
async function polled(): Promise<void> {
  await eventually(
    async () => {
      const { pollers } = await h.client.workflowService.describeTaskQueue({
        namespace: h.config.temporal.namespace,
        taskQueue: { name: h.config.temporal.taskQueue },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      return pollers && pollers.length > 0 ? true : undefined;
    },
    120_000,
    `the previous build's worker polling (output: ${printed.slice(-2_000)})`,
  );
}

async function start(name: string): Promise<{ executionId: string; workflowId: string }> {
  const res = await h.api('POST', `/api/workflows/${DEFINITION.key}/execute`, { triggerData: { name } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

/** Approves the run's review once it waits there (listed among the waiting approvals). */
async function approveWhenWaiting(executionId: string): Promise<void> {
  await eventually(async () => {
    const { items } = (await h.api('GET', '/api/approvals')).body as { items: { executionId: string }[] };
    return items.some((item) => item.executionId === executionId) ? true : undefined;
  }, 60_000, `run ${executionId} waiting at its approval`).catch(async (err: unknown) => {
    const { body } = await h.api('GET', `/api/executions/${executionId}`);
    throw new Error(`${String(err)}; the run: ${JSON.stringify(body).slice(0, 1_500)}; the previous build's worker said: ${printed.slice(-3_000)}`);
  });
  const res = await h.api('POST', `/api/executions/${executionId}/approvals`, { step: 'review', decision: 'approve' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

interface Finished {
  status: string;
  logs: { stepId: string; event: string; output: unknown }[];
}

/** The run once it has ended, as the API answers it. */
async function finished(executionId: string): Promise<Finished> {
  let last = '';
  return eventually(async () => {
    const res = await h.api('GET', `/api/executions/${executionId}`);
    last = `${res.status} ${JSON.stringify(res.body)}`;
    return isTerminal(res.body.status) ? (res.body as Finished) : undefined;
  }, 60_000, `run ${executionId} to end`).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen ${last.slice(0, 1_500)}; the previous build's worker said: ${printed.slice(-3_000)}`);
  });
}

/** What a step of the run put out, from its COMPLETED log row. */
function outputOf(run: Finished, stepId: string): unknown {
  return run.logs.find((row) => row.stepId === stepId && row.event === 'COMPLETED')?.output;
}

describe(`the previous build (${SHORT}, ${previous.why}) on this build's schema`, () => {
  let first: { executionId: string; workflowId: string };
  let second: { executionId: string; workflowId: string };

  it('runs runs to their end, writing the mirror, the log, the ledger and a decision', { timeout: runTimeout({ runs: 2, steps: 4, extra: '60s' }) }, async () => {
    const env = harnessEnvironment(h, mailTo());
    // Its own workflow code, bundled as it starts: this build's bundle is not the previous build's.
    delete env.WORKFLOW_BUNDLE_PATH;
    previousWorker = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], { cwd: tree, env, stdio: ['ignore', 'pipe', 'pipe'] });
    previousWorker.stdout?.on('data', (c: Buffer) => (printed = (printed + c.toString()).slice(-20_000)));
    previousWorker.stderr?.on('data', (c: Buffer) => (printed = (printed + c.toString()).slice(-20_000)));
    await polled();

    first = await start('Ada');
    second = await start('Grace');
    await approveWhenWaiting(first.executionId);
    const done = await finished(first.executionId);
    expect(done.status, printed.slice(-2_000)).toBe('SUCCESS');
    expect(outputOf(done, 'greet')).toEqual({ greeting: 'hi Ada' });
    expect(outputOf(done, 'done')).toEqual({ outcome: 'approved' });

    await eventually(async () => (smtp.messages.length >= 2 ? true : undefined), 60_000, 'both runs’ mail');
    const rows = await h.db.selectFrom('deliveries').select(['workflow_id', 'status']).orderBy('workflow_id').execute();
    expect(rows.filter((row) => row.status === 'SENT').map((row) => row.workflow_id).sort()).toEqual([first.workflowId, second.workflowId].sort());
  });

  it('leaves a waiting run that this build finishes, sending nothing twice, and histories this build replays', { timeout: runTimeout({ runs: 1, steps: 2, extra: '30s' }) }, async () => {
    expect(second, 'the run the first test left waiting').toBeDefined();
    await stopPreviousWorker();
    await h.startWorker();

    await approveWhenWaiting(second.executionId);
    const done = await finished(second.executionId);
    expect(done.status).toBe('SUCCESS');
    expect(outputOf(done, 'greet')).toEqual({ greeting: 'hi Grace' });
    expect(outputOf(done, 'done')).toEqual({ outcome: 'approved' });
    expect(smtp.messages.length).toBe(2);

    const histories = await Promise.all(
      [first, second].map(async ({ workflowId }) => ({ workflowId, history: await h.client.workflow.getHandle(workflowId).fetchHistory() })),
    );
    expect(await replayHistories(histories)).toEqual(histories.map(({ workflowId }) => ({ workflowId, error: undefined })));
  });
});
