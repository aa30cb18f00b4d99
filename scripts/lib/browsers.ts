/**
 * The browsers the console's tests drive: Debian's Chromium (with
 * playwright-core) and Firefox ESR (with puppeteer-core, over WebDriver
 * BiDi). `CHROMIUM_PATH` or `FIREFOX_PATH` point at others; a missing one is
 * installed with apt-get, since browsers cannot be downloaded by the test
 * tools here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Say } from './temporal';

const execFileAsync = promisify(execFile);

const BROWSERS = {
  chromium: { variable: 'CHROMIUM_PATH', debianPackage: 'chromium', paths: ['/usr/bin/chromium', '/usr/bin/chromium-browser'] },
  firefox: { variable: 'FIREFOX_PATH', debianPackage: 'firefox-esr', paths: ['/usr/bin/firefox-esr', '/usr/bin/firefox'] },
} as const;

export type BrowserName = keyof typeof BROWSERS;

export async function findOrInstallBrowser(name: BrowserName, say: Say): Promise<string> {
  const { variable, debianPackage, paths } = BROWSERS[name];
  const given = process.env[variable];
  if (given) {
    if (!existsSync(given)) throw new Error(`${variable} is ${given}, which does not exist`);
    return given;
  }
  const found = paths.find((path) => existsSync(path));
  if (found) return found;
  say(`${name} is not installed: installing Debian's ${debianPackage} package with apt-get (a minute or two, once per machine)`);
  const apt = async (args: string[]) =>
    execFileAsync('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  try {
    await apt(['install', '-y', '--no-install-recommends', debianPackage]).catch(async () => {
      await apt(['update']);
      await apt(['install', '-y', '--no-install-recommends', debianPackage]);
    });
  } catch (err) {
    throw new Error(
      `could not install ${debianPackage} with apt-get (${(err as Error).message.split('\n')[0]}): install Debian's ${debianPackage} package, or set ${variable} to the browser's binary`,
    );
  }
  const installed = paths.find((path) => existsSync(path));
  if (!installed) throw new Error(`apt-get installed ${debianPackage} but no binary is at ${paths.join(' or ')}: set ${variable}`);
  return installed;
}
