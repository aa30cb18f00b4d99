/** The embedded Postgres that `npm run dev` starts: when it cannot start, the error says why. */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { RecentLines, startEmbeddedPostgres } from '../../scripts/lib/postgres';

let scratch: string | undefined;

afterEach(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe('the embedded Postgres', () => {
  it('leaves the exit code of the process that loads it alone', () => {
    // Its exit hook ended every process with process.exit(0): failing test runs exited 0.
    const script = "const m = await import('./scripts/lib/postgres.ts'); await m.loadEmbeddedPostgres(); process.exitCode = 3;";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(3);
  });

  it("names its data folder and Postgres's own reason when the server exits while starting", async () => {
    scratch = await mkdtemp(join(tmpdir(), 'wfa-embedded-'));
    // A data folder from a Postgres far older than the embedded one: the server refuses it and exits.
    const dataDir = join(scratch, 'postgres');
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dataDir, 'PG_VERSION'), '9.6\n');
    if (userInfo().uid === 0) await chmod(scratch, 0o755);

    const port = await freePort();
    // Caught by hand: `rejects.toThrow` would pass on a rejection with no error at all, the very fault here.
    const failure: unknown = await startEmbeddedPostgres({ dataDir, port, database: 'postgres' }, () => undefined).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(Error);
    const { message } = failure as Error;
    expect(message).toContain(`the embedded Postgres in ${dataDir} did not start on port ${port}: `);
    // Postgres's own words: a FATAL line, or (as root) the server saying it cannot read the folder.
    expect(message).toMatch(/did not start on port \d+: (postgres: |.*FATAL: )/);
  });
});

describe('the last lines of a server', () => {
  it('keeps the newest non-blank lines, across chunks', () => {
    const lines = new RecentLines(2);
    lines.add('one\n\ntwo\r\n');
    lines.add('three\n');
    expect(lines.text()).toBe('two | three');
  });
});
