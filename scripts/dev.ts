/**
 * `npm run dev`: the whole stack on one machine. Starts (or reuses) a Temporal
 * dev server and a Postgres, applies migrations, seeds the templates, starts
 * the worker and the gateway (started again should one exit) while it builds
 * the web console, and prints where everything is. Ctrl-C, SIGTERM or SIGHUP stops
 * everything it started.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { redactUrl } from '../src/config';
import { loadTemplates } from '../src/templates';
import { devWebhookSecret, signedHookLines } from './lib/dev-webhooks';
import { obtainPostgres, type RunningPostgres } from './lib/postgres';
import { freePort, isPortTaken } from './lib/ports';
import { compileProduct } from './lib/compile';
import { catchUnconfiguredProviders, createStack, prepareDatabase, registerSearchAttributes, sampleRunLines, stackConfig } from './lib/stack';
import { isAlive, signalGroup } from './lib/supervisor';
import { type DevServer, startTemporal } from './lib/temporal';

const DATA_DIR = resolve('data');
/** The dev server this script started, while it runs: an earlier run's, found at start, is stopped. */
const DEV_SERVER_PID_FILE = resolve(DATA_DIR, 'temporal', 'dev-server.pid');
/** The development webhook secret, made at the first start without WEBHOOK_SIGNATURE_SECRET. */
const DEV_WEBHOOK_SECRET_FILE = resolve(DATA_DIR, 'webhook-secret');
const stack = createStack('dev');
const { say } = stack;

async function main(): Promise<void> {
  const env = stack.environment();

  // Temporal: the configured server, one already on :7233, or a dev server we start.
  if (!env.TEMPORAL_ADDRESS) {
    await stopStaleDevServer();
    if ((await isPortTaken(7233)) && (await answersAsTemporal('127.0.0.1:7233'))) {
      say('a Temporal server that npm run dev did not start already listens on 127.0.0.1:7233; using it, and leaving it running at the end');
      env.TEMPORAL_ADDRESS = '127.0.0.1:7233';
    } else {
      say('starting the Temporal dev server (state kept in data/temporal/temporal.db)');
      // With payload encryption on, the UI decodes through the gateway's codec server.
      const codec = env.ENCRYPTION_KEYS ? { uiCodecEndpoint: `http://127.0.0.1:${env.PORT ?? 3000}/api/codec` } : {};
      const temporal: DevServer = await startTemporal(
        { port: 7233, uiPort: 8233, dbFile: resolve(DATA_DIR, 'temporal', 'temporal.db'), ...codec },
        say,
      );
      if (temporal.pid) await writeFile(DEV_SERVER_PID_FILE, `${temporal.pid}\n`);
      stack.onStop(`Temporal dev server${temporal.pid ? ` (pid ${temporal.pid})` : ''}`, async () => {
        await temporal.stop();
        await rm(DEV_SERVER_PID_FILE, { force: true });
      });
      env.TEMPORAL_ADDRESS = temporal.address;
      env.TEMPORAL_UI_URL ??= temporal.uiUrl;
    }
  }

  // Postgres: DATABASE_URL, or an embedded one with its data under data/postgres.
  let postgres: RunningPostgres;
  if (env.DATABASE_URL) {
    say(`using Postgres at ${redactUrl(env.DATABASE_URL)}`);
    postgres = await obtainPostgres(env.DATABASE_URL, { dataDir: '', port: 0, database: '' }, say);
  } else {
    const port = (await isPortTaken(5433)) ? await freePort() : 5433;
    say(`starting an embedded Postgres on port ${port} (data in data/postgres)`);
    postgres = await obtainPostgres(undefined, { dataDir: resolve(DATA_DIR, 'postgres'), port, database: 'workflows' }, say);
    stack.onStop('embedded Postgres', () => postgres.stop());
  }
  env.DATABASE_URL = postgres.url;

  // Providers: with none configured, loopback sinks print what would be sent.
  await catchUnconfiguredProviders(stack, env);

  // Webhooks: without a secret of the user's, one for development, kept in data/ across restarts.
  let hookSecret: string | undefined;
  if (!env.WEBHOOK_SIGNATURE_SECRET) {
    const dev = await devWebhookSecret(DEV_WEBHOOK_SECRET_FILE);
    env.WEBHOOK_SIGNATURE_SECRET = hookSecret = dev.secret;
    env.WEBHOOK_SIGNATURE_SCHEME ??= 'standard';
    say(`no WEBHOOK_SIGNATURE_SECRET set: webhooks take signatures made with a development secret ${dev.created ? 'made now and ' : ''}kept in data/webhook-secret`);
  }

  const config = stackConfig(env, 'npm run dev');
  if (await isPortTaken(config.http.port)) {
    throw new Error(`port ${config.http.port} is taken; stop what uses it or set PORT in .env`);
  }

  const apiKey = await prepareDatabase(stack, config.database.url, 'npm run dev');
  await registerSearchAttributes(stack, config);

  // The console builds while the worker and the gateway start: neither needs the other.
  say('building the web console (console/ → dist/console) while the worker and the gateway start');
  const consoleBuilt = buildConsole();
  await compileProduct(say);
  stack.startChild('worker', 'src/worker/main.ts', env);
  stack.startChild('gateway', 'src/gateway/main.ts', env);

  const apiUrl = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
  await Promise.all([consoleBuilt, stack.waitForHealthy(apiUrl)]);
  process.stdout.write(
    [
      '',
      '  Workflow automation is running.',
      '',
      `  Console        ${apiUrl}/console/  (sign in with the API key below)`,
      `  API            ${apiUrl}  (health: ${apiUrl}/api/health/workflows)`,
      `  Temporal UI    ${config.temporal.uiUrl}`,
      `  Temporal       ${config.temporal.address}  namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
      // The embedded database is this machine's, with a fixed password: shown whole, to paste into psql.
      `  Postgres       ${postgres.embedded ? `${config.database.url}  (embedded, this machine only: psql takes it as is)` : redactUrl(config.database.url)}`,
      '',
      `  API key        ${apiKey}  (admin, for this machine; replaced at each start)`,
      '',
      '  Start a sample run:',
      ...(await sampleRunLines(apiUrl, apiKey)),
      '  then wait for its end at the waitUrl it returns, or follow it in the Temporal UI.',
      '',
      ...(await webhookLines(apiUrl, hookSecret)),
      '  Ctrl-C stops everything started here.',
      '',
    ].join('\n'),
  );
}

/** `npm run build:console`, its messages shown as they come. */
function buildConsole(): Promise<void> {
  return new Promise((resolve, reject) => {
    const build = spawn('npm', ['run', '--silent', 'build:console'], { stdio: 'inherit' });
    build.once('error', reject);
    build.once('exit', (code) => (code === 0 ? resolve() : reject(new Error('the web console did not build; see the messages above'))));
  });
}

/**
 * The webhook secret and a signed `curl` starting the sample run from a hook,
 * when the secret is the development one (a secret of the user's is not printed).
 */
async function webhookLines(apiUrl: string, secret: string | undefined): Promise<string[]> {
  if (!secret) return ['  Webhooks       signed with WEBHOOK_SIGNATURE_SECRET as you set it', ''];
  const sample = (await loadTemplates()).find((t) => t.key === 'welcome-email');
  return [
    `  Webhook secret ${secret}  (development, kept in data/webhook-secret)`,
    '  Start a sample run from a signed webhook (bash or zsh, with openssl):',
    ...signedHookLines(apiUrl, 'welcome-email', secret, sample?.exampleTriggerData ?? {}),
    '',
  ];
}

/**
 * A dev server an earlier `npm run dev` started and could not stop (it was
 * killed itself) is stopped now, saying so, rather than taken for one of the
 * user's own.
 */
async function stopStaleDevServer(): Promise<void> {
  const pid = Number((await readFile(DEV_SERVER_PID_FILE, 'utf8').catch(() => '')).trim());
  if (!pid) return;
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (command.includes('start-dev')) {
    say(`a Temporal dev server left running by an earlier npm run dev (pid ${pid}) is stopped`);
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
    while (await isPortTaken(7233)) await new Promise((r) => setTimeout(r, 100));
  }
  await rm(DEV_SERVER_PID_FILE, { force: true });
}

async function answersAsTemporal(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: '2s' });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

stack.run(main);
