/**
 * `npm run cluster`: the production topology on one machine. A real Temporal
 * server (built from the Go module proxy) with persistence and visibility on
 * Postgres and its Web UI, two workers and two gateways sharing one
 * Redis-backed rate limit. With `--tls`, the frontend takes mTLS only, from
 * certificates made here (data/cluster/tls), and every process connects with them.
 * With `--builds <n>` (2 to 4), the workers run as n builds of one worker
 * deployment side by side (Worker Versioning), one worker each: the first is
 * current, the others take runs once ramped or promoted with `npm run cli -- deploy`.
 * A worker or gateway that exits is started again after a backoff, and the
 * rest keep running, as an orchestrator would. Prints where everything is;
 * Ctrl-C, SIGTERM or SIGHUP stops everything it started.
 */
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { redactUrl } from '../src/config';
import { connectTemporal } from '../src/temporal/client';
import { deploymentStatus } from '../src/temporal/deployments';
import { releaseBuildId } from '../src/worker/versioning';
import { generateCertificates } from './lib/certificates';
import { obtainPostgres } from './lib/postgres';
import { freePort, isPortTaken } from './lib/ports';
import { compileProduct } from './lib/compile';
import { catchUnconfiguredProviders, createStack, prepareDatabase, registerSearchAttributes, sampleRunLines, stackConfig } from './lib/stack';
import {
  ensureNamespace,
  findOrBuildTemporalServer,
  findOrBuildTemporalUi,
  setupTemporalDatabases,
  startTemporalServer,
  startTemporalUi,
} from './lib/temporal-server';

const DATA_DIR = resolve('data', 'cluster');
const TEMPORAL_PORT = 7233;
const GATEWAY_PORTS = [3000, 3001];
const WORKERS = 2;
const RETENTION_DAYS = 3;
const TLS = process.argv.slice(2).includes('--tls');
const BUILDS = buildsWanted(process.argv.slice(2));
/** The deployment the builds are versions of, unless WORKER_DEPLOYMENT_NAME names another. */
const DEPLOYMENT = 'workflow-automation';
const stack = createStack('cluster');
const { say } = stack;

async function main(): Promise<void> {
  const env = stack.environment();
  if (await isPortTaken(TEMPORAL_PORT)) {
    throw new Error(`port ${TEMPORAL_PORT} is taken (another Temporal server, or npm run dev?): stop it, then run npm run cluster again`);
  }

  const postgres = await obtainPostgres(
    env.DATABASE_URL,
    { dataDir: resolve(DATA_DIR, 'postgres'), port: (await isPortTaken(5434)) ? await freePort() : 5434, database: 'workflows' },
    say,
  );
  if (postgres.embedded) stack.onStop('embedded Postgres', () => postgres.stop());
  say(`Postgres at ${redactUrl(postgres.url)}${postgres.embedded ? ' (embedded, data in data/cluster/postgres)' : ''}`);
  env.DATABASE_URL = postgres.url;

  const started = Date.now();
  const binaries = await findOrBuildTemporalServer(say);
  await setupTemporalDatabases(binaries, { postgresUrl: postgres.url }, say);
  // Made afresh at each start (they last 30 days): a CA, the frontend's certificate, and the client certificate every process presents.
  const certificates = TLS ? await generateCertificates(resolve(DATA_DIR, 'tls')) : undefined;
  if (certificates) say(`mTLS certificates in ${certificates.dir}: CA ca.pem, server server.pem (localhost, 127.0.0.1), client client.pem`);
  const temporal = await startTemporalServer(
    binaries,
    { postgresUrl: postgres.url, port: TEMPORAL_PORT, dataDir: resolve(DATA_DIR, 'temporal'), ...(certificates ? { tls: certificates } : {}) },
    say,
  );
  stack.onStop('Temporal server', () => temporal.stop());
  await ensureNamespace(temporal, 'default', RETENTION_DAYS, say);
  env.TEMPORAL_ADDRESS = temporal.address;
  if (certificates) {
    env.TEMPORAL_TLS_CLIENT_CERT_PATH = certificates.clientCert;
    env.TEMPORAL_TLS_CLIENT_KEY_PATH = certificates.clientKey;
    env.TEMPORAL_TLS_SERVER_CA_CERT_PATH = certificates.ca;
  }
  const ui = await startTemporalUi(await findOrBuildTemporalUi(say), {
    temporalAddress: temporal.address,
    tls: certificates,
    port: (await isPortTaken(8080)) ? await freePort() : 8080,
    dataDir: resolve(DATA_DIR, 'ui'),
    codecEndpoint: env.ENCRYPTION_KEYS ? `http://127.0.0.1:${GATEWAY_PORTS[0]}/api/codec` : undefined,
  });
  stack.onStop('Temporal UI', () => ui.stop());
  env.TEMPORAL_UI_URL ??= ui.url;
  say(`Temporal ready in ${Math.round((Date.now() - started) / 1000)} s, its Web UI at ${ui.url}`);

  if (!env.REDIS_URL && (await answers('127.0.0.1', 6379))) env.REDIS_URL = 'redis://127.0.0.1:6379';
  const limitNote = env.REDIS_URL
    ? `shared through Redis at ${redactUrl(env.REDIS_URL)}: a key gets RATE_LIMIT_PER_MINUTE in all`
    : `no REDIS_URL and no Redis on 127.0.0.1:6379: each gateway limits on its own, so a key gets up to ${GATEWAY_PORTS.length} × RATE_LIMIT_PER_MINUTE`;
  say(`rate limit ${limitNote}`);

  await catchUnconfiguredProviders(stack, env);
  const config = stackConfig(env, 'npm run cluster');
  const apiKey = await prepareDatabase(stack, config.database.url, 'npm run cluster');
  await registerSearchAttributes(stack, config);

  await compileProduct(stack.say);
  const builds = BUILDS > 1 ? await startBuilds(env, config) : [];
  if (builds.length === 0) for (let i = 1; i <= WORKERS; i++) stack.startChild(`worker-${i}`, 'src/worker/main.ts', env);
  const gateways: string[] = [];
  for (const [i, wanted] of GATEWAY_PORTS.entries()) {
    const port = (await isPortTaken(wanted)) ? await freePort() : wanted;
    stack.startChild(`gateway-${i + 1}`, 'src/gateway/main.ts', { ...env, PORT: String(port) });
    gateways.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(gateways.map((url) => stack.waitForHealthy(url)));

  process.stdout.write(
    [
      '',
      '  Workflow automation is running on a Temporal cluster topology.',
      '',
      ...gateways.map((url, i) => `  Gateway ${i + 1}      ${url}  (health: ${url}/api/health/workflows)`),
      builds.length
        ? `  Workers        ${builds.length} builds of worker deployment ${env.WORKER_DEPLOYMENT_NAME}, one worker each, task queue ${config.temporal.taskQueue}`
        : `  Workers        ${WORKERS}, task queue ${config.temporal.taskQueue}`,
      ...builds.map((build, i) => `                 ${build}${i === 0 ? '  (current)' : `  (takes runs once ramped or promoted: npm run cli -- deploy ramp ${build} 50, … promote ${build})`}`),
      ...(builds.length ? [`                 npm run cli -- deploy status | rollback   (with ${deploySettings(env)})`] : []),
      `  Temporal UI    ${ui.url}`,
      `  Temporal       ${temporal.address}  namespace ${config.temporal.namespace} (closed runs kept ${RETENTION_DAYS} days), Postgres persistence and visibility`,
      ...(certificates
        ? [
            `  mTLS           the frontend takes only certificates signed by ${certificates.ca}; the processes present ${certificates.clientCert}`,
            `                 temporal workflow list --address ${temporal.address} --tls-ca-path ${certificates.ca} --tls-cert-path ${certificates.clientCert} --tls-key-path ${certificates.clientKey}`,
          ]
        : []),
      `  Postgres       ${redactUrl(config.database.url)}`,
      `  Rate limit     ${limitNote}`,
      '',
      `  API key        ${apiKey}  (admin, for this machine; replaced at each start)`,
      '',
      '  Start a sample run, through either gateway:',
      ...(await sampleRunLines(gateways[0]!, apiKey)),
      `  (or ${gateways[1]} instead)`,
      '',
      '  A worker or gateway that exits is started again, the rest keep running.',
      '  Ctrl-C stops everything started here.',
      '',
    ].join('\n'),
  );
}

/** What `npm run cli -- deploy …` needs of the processes' settings to reach this topology's Temporal. Paths only: never a key's PEM. */
const DEPLOY_SETTINGS = [
  'TEMPORAL_ADDRESS',
  'WORKER_DEPLOYMENT_NAME',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
] as const;

/** Those of {@link DEPLOY_SETTINGS} that are set (the certificates only under `--tls`), as `NAME=value` words. */
function deploySettings(env: NodeJS.ProcessEnv): string {
  return DEPLOY_SETTINGS.filter((name) => env[name] !== undefined)
    .map((name) => `${name}=${env[name]}`)
    .join(' ');
}

/** `--builds <n>`: 1 (unversioned workers, the default) to 4. */
function buildsWanted(args: string[]): number {
  const at = args.indexOf('--builds');
  if (at < 0) return 1;
  const n = Number(args[at + 1]);
  if (!Number.isInteger(n) || n < 1 || n > 4) {
    process.stderr.write(`--builds takes a number of builds from 1 to 4, not ${args[at + 1] ?? 'nothing'}\n`);
    process.exit(2);
  }
  return n;
}

/**
 * Starts one worker per build of the deployment, the first alone until the
 * deployment has a current build (a deployment's first build makes itself
 * current; started together, neither would be first). Answers the build ids.
 */
async function startBuilds(env: Record<string, string | undefined>, config: ReturnType<typeof stackConfig>): Promise<string[]> {
  const name = (env.WORKER_DEPLOYMENT_NAME ??= DEPLOYMENT);
  const release = env.WORKER_BUILD_ID ?? releaseBuildId();
  const builds = Array.from({ length: BUILDS }, (_, i) => `${release}-b${i + 1}`);
  stack.startChild('worker-build-1', 'src/worker/main.ts', { ...env, WORKER_BUILD_ID: builds[0] });
  const temporal = await connectTemporal(config);
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const current = await deploymentStatus(temporal.client, name).then((s) => s.current, () => null);
      if (current) {
        say(`worker deployment ${name}: ${current} is current`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`worker deployment ${name} has no current build after 2 minutes: see worker-build-1's output`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await temporal.connection.close();
  }
  for (const [i, build] of builds.entries()) if (i > 0) stack.startChild(`worker-build-${i + 1}`, 'src/worker/main.ts', { ...env, WORKER_BUILD_ID: build });
  return builds;
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: 1_000 });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
    socket.once('timeout', () => (socket.destroy(), done(false)));
  });
}

stack.run(main);
