// Runs before `npm run dev` and `npm test`: checks Node and installs the
// dependencies when they are missing or older than the lockfile. Plain
// JavaScript with no dependencies, since it runs before any are installed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`Node.js ${process.versions.node} is too old: install Node.js 20.19 or newer (24 LTS recommended: docs/DEPLOYMENT.md, "Supported Node.js versions").`);
  process.exit(1);
}

if (major < 22) {
  console.log(`[setup] Node.js ${process.versions.node} is past its end of life (2026-04-30): fine for development, but run production on Node.js 24 LTS (docs/DEPLOYMENT.md, "Supported Node.js versions").`);
}

const marker = 'node_modules/.package-lock.json';
const stale =
  !existsSync(marker) ||
  (existsSync('package-lock.json') && statSync('package-lock.json').mtimeMs > statSync(marker).mtimeMs);

if (stale) {
  const command = existsSync('package-lock.json') ? 'ci' : 'install';
  console.log(`[setup] installing dependencies (npm ${command}) — about a minute the first time…`);
  const result = spawnSync('npm', [command, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[setup] npm could not install the dependencies; see the messages above, fix them, and run the command again.');
    process.exit(result.status ?? 1);
  }
}
