/**
 * The Chromium the console's browser tests drive with playwright-core:
 * `CHROMIUM_PATH`, else Debian's `chromium` package, installed with apt-get
 * when it is missing (browsers cannot be downloaded by Playwright here).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Say } from './temporal';

const execFileAsync = promisify(execFile);

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export async function findOrInstallChromium(say: Say): Promise<string> {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!existsSync(given)) throw new Error(`CHROMIUM_PATH is ${given}, which does not exist`);
    return given;
  }
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found) return found;
  say('Chromium is not installed: installing Debian\'s chromium package with apt-get (a minute or two, once per machine)');
  const apt = async (args: string[]) =>
    execFileAsync('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  try {
    await apt(['install', '-y', '--no-install-recommends', 'chromium']).catch(async () => {
      await apt(['update']);
      await apt(['install', '-y', '--no-install-recommends', 'chromium']);
    });
  } catch (err) {
    throw new Error(
      `could not install Chromium with apt-get (${(err as Error).message.split('\n')[0]}): install Debian's chromium package, or set CHROMIUM_PATH to a Chromium binary`,
    );
  }
  const installed = CANDIDATES.find((path) => existsSync(path));
  if (!installed) throw new Error('apt-get installed chromium but no binary is at /usr/bin/chromium: set CHROMIUM_PATH');
  return installed;
}
