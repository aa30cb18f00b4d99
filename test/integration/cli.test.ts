/**
 * The admin CLI end to end (`npm run cli`, src/cli/main.ts), as its own
 * process against a real gateway, worker and Temporal dev server: definitions
 * from a file, a run started and followed, a failed run's bulk reset from dry
 * run to a finished batch, the reports (deliveries per connection among them),
 * what a run sent, keys, the audit log, and its exit codes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshReports } from '../../db/reports';
import { type HttpSink, type SmtpSink, startHttpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { productCommand } from '../support/processes';
import { runTimeout } from '../support/timeouts';

let h: Harness;
let peer: HttpSink;
let peerDown = true;
/** The mail server of the `cli-mail` connection. */
let mail: SmtpSink;
let dir: string;

beforeAll(async () => {
  peer = await startHttpSink();
  mail = await startSmtpSink();
  peer.respond = () => (peerDown ? { status: 400, body: { error: 'not yet' } } : { status: 200, body: { ok: true } });
  h = await createHarness({ env: { HTTP_ALLOWED_HOSTS: '127.0.0.1', CONNECTION_KEYS: `cli:${Buffer.alloc(32, 5).toString('base64')}` } });
  dir = await mkdtemp(join(tmpdir(), 'wfa-cli-'));
});

afterAll(async () => {
  await h?.close();
  await peer?.close();
  await mail?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against the harness's gateway (not blocking it: it serves in this process). */
function wfa(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, productCommand('src/cli/main.ts', '--poll', '200', ...args), {
      env: { ...process.env, WFA_URL: h.baseUrl, WFA_API_KEY: h.adminKey, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Each test starts the CLI up to ten times, a Node process each (a second apiece on a loaded
 * machine), and a few one-step runs: its time is those starts, not the runs.
 */
const CLI_TEST_TIMEOUT = runTimeout({ runs: 4, steps: 2, extra: '15s' });

describe('the admin CLI', { timeout: CLI_TEST_TIMEOUT }, () => {
  it('applies a definition from a file, starts a run and follows it to its end', async () => {
    const file = join(dir, 'greet.json');
    const definition = { key: 'cli-greet', name: 'Greet', steps: [{ id: 'hello', type: 'set', values: { greeting: '{{ "hi " & input.name }}' } }] };
    await writeFile(file, JSON.stringify(definition));
    expect(await wfa(['definitions', 'validate', file])).toMatchObject({ code: 0, stdout: `${file}: valid\n` });
    expect(await wfa(['definitions', 'apply', file])).toMatchObject({ code: 0, stdout: 'cli-greet: created (version 1)\n' });
    await writeFile(file, JSON.stringify({ ...definition, name: 'Greet, again' }));
    expect(await wfa(['definitions', 'apply', file])).toMatchObject({ code: 0, stdout: 'cli-greet: updated to version 2\n' });

    const listed = await wfa(['--json', 'definitions', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).items).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'cli-greet', version: 2, name: 'Greet, again' })]));
    const shown = await wfa(['definitions', 'show', 'cli-greet']);
    expect(shown.stdout).toMatch(/^hello\s+set$/m);
    expect(shown.stdout).toContain('versions: 2, 1');

    const followed = await wfa(['runs', 'start', 'cli-greet', '--data', '{"name":"Ada"}', '--follow']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(/hello\s+STARTED/);
    expect(followed.stdout).toMatch(/hello\s+COMPLETED/);
    expect(followed.stdout).toMatch(/^run [0-9a-f-]{36} SUCCESS$/m);
    const list = await wfa(['runs', 'list', '--definition', 'cli-greet']);
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+definition\s+status\s+version/);
    expect(list.stdout).toMatch(/^[0-9a-f-]{36}\s+cli-greet\s+SUCCESS\s+2/m);
  });

  it('resets failed runs in bulk: a dry run, then a batch followed to its end; the audit log says so', async () => {
    const file = join(dir, 'sync.json');
    await writeFile(
      file,
      JSON.stringify({ key: 'cli-sync', name: 'Sync', steps: [{ id: 'push', type: 'http', url: `${peer.url}/push`, retry: { maximumAttempts: 1 } }] }),
    );
    expect((await wfa(['definitions', 'apply', file])).code).toBe(0);
    const failed = await Promise.all([1, 2, 3].map(() => wfa(['runs', 'start', 'cli-sync', '--follow'])));
    for (const run of failed) {
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^run [0-9a-f-]{36} FAILED: /m);
    }

    const dry = await wfa(['runs', 'bulk-reset', '--definition', 'cli-sync', '--failed-step', 'push', '--reason', 'peer fixed', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('3 runs match; a reset would:');
    expect(dry.stdout).toMatch(/cli-sync\s+1\s+push\s+\S+\s+3/);

    peerDown = false;
    const bulk = await wfa(['runs', 'bulk-reset', '--definition', 'cli-sync', '--reason', 'peer fixed']);
    expect(bulk.code, bulk.stderr).toBe(0);
    expect(bulk.stdout).toMatch(/^batch [0-9a-f-]{36} COMPLETED: 3 done, 0 failed, 0 skipped of 3$/m);
    // Not a terminal: progress comes as lines on stderr, the last one full.
    expect(bulk.stderr.trim().split('\n').at(-1)).toBe(`[${'#'.repeat(30)}] 3/3 done 3, failed 0, skipped 0`);
    await eventually(async () => {
      const runs = JSON.parse((await wfa(['--json', 'runs', 'list', '--definition', 'cli-sync'])).stdout).items;
      return runs.every((r: { status: string }) => r.status === 'SUCCESS') ? true : undefined;
    }, 30_000, 'the reset runs to succeed');

    const audit = await wfa(['audit']);
    expect(audit.stdout).toMatch(/test harness\s+batch\.reset\s+[0-9a-f-]{36}\s+peer fixed/);
    const batches = await wfa(['--json', 'batches', 'list']);
    expect(JSON.parse(batches.stdout).items[0]).toMatchObject({ action: 'reset', status: 'COMPLETED', total: 3, reason: 'peer fixed' });
  });

  it('moves waiting runs to a new version, from a dry run, and prints the reports as tables', async () => {
    const file = join(dir, 'signoff.json');
    const v1 = { key: 'cli-signoff', name: 'Signoff', steps: [{ id: 'wait', type: 'delay', duration: '1h' }, { id: 'done', type: 'set', values: { v: 1 } }] };
    await writeFile(file, JSON.stringify(v1));
    expect((await wfa(['definitions', 'apply', file])).code).toBe(0);
    const started = JSON.parse((await wfa(['--json', 'runs', 'start', 'cli-signoff'])).stdout) as { executionId: string; workflowId: string };
    const handle = h.client.workflow.getHandle(started.workflowId);
    await eventually(async () => ((await handle.query<{ movableAt?: string }>('state')).movableAt === 'wait' ? true : undefined));
    await writeFile(file, JSON.stringify({ ...v1, steps: [{ id: 'pause', type: 'delay', duration: '1ms' }, { id: 'done', type: 'set', values: { v: 2 } }] }));
    expect((await wfa(['definitions', 'apply', file])).stdout).toBe('cli-signoff: updated to version 2\n');

    const dry = await wfa(['definitions', 'migrate', 'cli-signoff', '--from', '1', '--to', '2', '--map', 'wait=pause', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${started.executionId}\\s+wait\\s+pause`));
    expect(dry.stdout).toContain('dry run: 1 of 1 runs would move from version 1 to 2');
    expect((await wfa(['definitions', 'migrate', 'cli-signoff', '--from', '1', '--to', '2', '--map', 'wait'])).code).toBe(2);
    const moved = await wfa(['definitions', 'migrate', 'cli-signoff', '--from', '1', '--to', '2', '--map', 'wait=pause', '--reason', 'no more waiting']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain('1 of 1 runs moved from version 1 to 2, 0 refused');
    expect((await handle.result()).vars).toEqual({ v: 2 });

    await eventually(async () => ((await h.db.selectFrom('workflow_executions').select('status').where('id', '=', started.executionId).executeTakeFirst())?.status === 'SUCCESS' ? true : undefined));
    await refreshReports(h.db);
    const daily = await wfa(['reports', 'daily', '--definition', 'cli-signoff']);
    expect(daily.code, daily.stderr).toBe(0);
    expect(daily.stdout.split('\n')[1]).toMatch(/^day\s+definition\s+version\s+ended/);
    expect(daily.stdout).toMatch(/cli-signoff\s+2\s+1\s+1\s+0\s+100\.0%/);
    const summary = await wfa(['--json', 'reports', 'summary', '--definition', 'cli-signoff']);
    expect(JSON.parse(summary.stdout)).toMatchObject({ definition: 'cli-signoff', runs: 1, succeeded: 1, successRate: 1 });
    expect((await wfa(['reports', 'steps'])).stdout).toMatch(/cli-sync\s+push\s+http\s+\d+\s+3/);
    expect((await wfa(['reports', 'deliveries', '--from', 'soon'])).code).toBe(1);
  });

  it("reports deliveries per connection, and only those through one, with the API's report", async () => {
    const connection = join(dir, 'mail-connection.json');
    await writeFile(connection, JSON.stringify({ name: 'cli-mail', type: 'smtp', settings: { host: '127.0.0.1', port: mail.port, from: 'ops@example.test' } }));
    expect((await wfa(['connections', 'apply', connection])).code).toBe(0);
    const file = join(dir, 'mail.json');
    await writeFile(
      file,
      JSON.stringify({ key: 'cli-mail', name: 'Mail', steps: [{ id: 'send', type: 'email', connection: 'cli-mail', to: 'ada@example.test', subject: 'Hello', text: 'hi' }] }),
    );
    expect((await wfa(['definitions', 'apply', file])).code).toBe(0);
    const sent = await wfa(['runs', 'start', 'cli-mail', '--follow']);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);
    expect(mail.messages).toHaveLength(1);
    // What the run sent, from the ledger: through which connection, at which version.
    const executionId = /^run ([0-9a-f-]{36}) SUCCESS$/m.exec(sent.stdout)?.[1];
    const ledger = await wfa(['runs', 'deliveries', executionId ?? 'none']);
    expect(ledger.code, ledger.stderr).toBe(0);
    expect(ledger.stdout).toMatch(/^created\s+step\s+channel\s+status\s+attempts\s+to\s+connection\s+updated\n\S+\s+send\s+email\s+SENT\s+1\s+ada@example\.test\s+cli-mail@1\s+\S+$/m);
    await refreshReports(h.db);

    const today = new Date().toISOString().slice(0, 10);
    const byConnection = await wfa(['reports', 'deliveries', '--by', 'connection']);
    expect(byConnection.code, byConnection.stderr).toBe(0);
    expect(byConnection.stdout.split('\n')[1]).toMatch(/^day\s+channel\s+connection\s+status\s+deliveries\s+attempts$/);
    expect(byConnection.stdout).toMatch(new RegExp(`^${today}\\s+email\\s+cli-mail\\s+SENT\\s+1\\s+1$`, 'm'));
    const one = await wfa(['--json', 'reports', 'deliveries', '--connection', 'cli-mail']);
    expect(JSON.parse(one.stdout).items).toEqual([{ day: today, channel: 'email', connection: 'cli-mail', status: 'SENT', deliveries: 1, attempts: 1 }]);
    // Per channel, as before: no connection column.
    expect((await wfa(['reports', 'deliveries'])).stdout.split('\n')[1]).toMatch(/^day\s+channel\s+status\s+deliveries\s+attempts$/);
    const badGrouping = await wfa(['reports', 'deliveries', '--by', 'definition']);
    expect(badGrouping.code).toBe(2);
    expect(badGrouping.stderr).toContain("argument 'definition' is invalid");
  });

  it('creates, lists and revokes keys, and acts with the role of the key it is given', async () => {
    const created = await wfa(['--json', 'keys', 'create', '--name', 'cli reporting', '--role', 'viewer']);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key.key).toMatch(/^wfa_/);
    expect((await wfa(['keys', 'list'])).stdout).toMatch(/cli reporting\s+viewer/);

    // A viewer may read, and is refused what needs an admin, with the API's words.
    expect((await wfa(['runs', 'list'], { WFA_API_KEY: key.key })).code).toBe(0);
    const refused = await wfa(['keys', 'list'], { WFA_API_KEY: key.key });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^wfa: 403 forbidden: /);

    expect(await wfa(['keys', 'revoke', key.id])).toMatchObject({ code: 0, stdout: `key ${key.id} revoked\n` });
    const revoked = await wfa(['runs', 'list'], { WFA_API_KEY: key.key });
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/^wfa: 401 unauthenticated: /);
  });

  it('creates, shows, updates, tests and deletes a connection, never printing its secret', async () => {
    const file = join(dir, 'connection.json');
    const secret = 'https://teams.example.test/workflows/cli-SECRET-7f3a';
    await writeFile(file, JSON.stringify({ name: 'cli-teams', type: 'teams', secrets: { webhookUrl: secret } }));
    expect(await wfa(['connections', 'apply', file])).toMatchObject({ code: 0, stdout: 'cli-teams: created (teams, version 1)\n' });
    await writeFile(file, JSON.stringify({ name: 'cli-teams', secrets: { webhookUrl: `${secret}-2` } }));
    expect(await wfa(['connections', 'apply', file])).toMatchObject({ code: 0, stdout: 'cli-teams: updated to version 2\n' });
    const shown = await wfa(['connections', 'show', 'cli-teams']);
    expect(shown.stdout).toMatch(/webhookUrl\s+set \(hmac-sha256:[0-9a-f]{12}\)/);
    expect((await wfa(['connections', 'list'])).stdout).toMatch(/cli-teams\s+teams\s+2/);
    const tested = await wfa(['connections', 'test', 'cli-teams']);
    expect(tested).toMatchObject({ code: 0, stdout: expect.stringMatching(/^cli-teams v2: not checked: a Teams webhook cannot be checked/) });
    for (const ran of [shown, tested]) expect(ran.stdout + ran.stderr).not.toContain('SECRET');
    expect(await wfa(['connections', 'delete', 'cli-teams'])).toMatchObject({ code: 0, stdout: 'connection cli-teams deleted\n' });
  });

  it('says what is wrong, with an exit code for each kind of failure', async () => {
    const invalid = join(dir, 'invalid.json');
    await writeFile(invalid, JSON.stringify({ key: 'cli-bad', name: 'Bad', steps: [{ id: 'x', type: 'email' }] }));
    // Independent of one another: all at once, as many Node starts as there are cases.
    const [bad, rejected, missing, noReason, badLimit, unknown, away, help] = await Promise.all([
      wfa(['runs', 'reset', 'no-such-run', '--reason', 'x']),
      wfa(['definitions', 'validate', invalid]),
      wfa(['definitions', 'apply', join(dir, 'missing.json')]),
      wfa(['runs', 'reset', 'x']),
      wfa(['runs', 'list', '--limit', 'lots']),
      wfa(['no-such-command']),
      wfa(['runs', 'list'], { WFA_URL: 'http://127.0.0.1:9' }),
      wfa(['--help']),
    ]);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/^wfa: 404 not_found: no execution has id "no-such-run"/) });
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/\$\.steps\[0\]\.to: /);
    expect(missing.stderr).toContain('cannot read');
    expect(noReason.code).toBe(2); // --reason is required
    expect(badLimit.code).toBe(2);
    expect(unknown.code).toBe(2);
    expect(away.code).toBe(3);
    expect(away.stderr).toMatch(/^wfa: cannot reach the gateway at http:\/\/127\.0\.0\.1:9/);
    expect(help.code).toBe(0);
  });
});
