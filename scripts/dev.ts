/**
 * `npm run dev`: the whole stack on one machine. Starts (or reuses) a Temporal
 * dev server and a Postgres, applies migrations, seeds the templates, starts
 * the worker and the gateway, builds the web console, and prints where
 * everything is. Ctrl-C stops everything it started.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { redactUrl } from '../src/config';
import { obtainPostgres, type RunningPostgres } from './lib/postgres';
import { freePort, isPortTaken } from './lib/ports';
import { catchUnconfiguredProviders, createStack, prepareDatabase, registerSearchAttributes, sampleRunLines, stackConfig } from './lib/stack';
import { type DevServer, startTemporal } from './lib/temporal';

const DATA_DIR = resolve('data');
const stack = createStack('dev');
const { say } = stack;

async function main(): Promise<void> {
  const env = stack.environment();

  // Temporal: the configured server, one already on :7233, or a dev server we start.
  if (!env.TEMPORAL_ADDRESS) {
    if ((await isPortTaken(7233)) && (await answersAsTemporal('127.0.0.1:7233'))) {
      say('a Temporal server already listens on 127.0.0.1:7233; using it');
      env.TEMPORAL_ADDRESS = '127.0.0.1:7233';
    } else {
      say('starting the Temporal dev server (state kept in data/temporal/temporal.db)');
      // With payload encryption on, the UI decodes through the gateway's codec server.
      const codec = env.ENCRYPTION_KEYS ? { uiCodecEndpoint: `http://127.0.0.1:${env.PORT ?? 3000}/api/codec` } : {};
      const temporal: DevServer = await startTemporal(
        { port: 7233, uiPort: 8233, dbFile: resolve(DATA_DIR, 'temporal', 'temporal.db'), ...codec },
        say,
      );
      stack.onStop('Temporal dev server', () => temporal.stop());
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

  const config = stackConfig(env, 'npm run dev');
  if (await isPortTaken(config.http.port)) {
    throw new Error(`port ${config.http.port} is taken; stop what uses it or set PORT in .env`);
  }

  const apiKey = await prepareDatabase(stack, config.database.url, 'npm run dev');
  await registerSearchAttributes(stack, config);

  say('building the web console (console/ → dist/console)');
  const built = spawnSync('npm', ['run', '--silent', 'build:console'], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('the web console did not build; see the messages above');

  stack.startChild('worker', 'src/worker/main.ts', env);
  stack.startChild('gateway', 'src/gateway/main.ts', env);

  const apiUrl = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
  await stack.waitForHealthy(apiUrl);
  process.stdout.write(
    [
      '',
      '  Workflow automation is running.',
      '',
      `  Console        ${apiUrl}/console/  (sign in with the API key below)`,
      `  API            ${apiUrl}  (health: ${apiUrl}/api/health/workflows)`,
      `  Temporal UI    ${config.temporal.uiUrl}`,
      `  Temporal       ${config.temporal.address}  namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
      `  Postgres       ${redactUrl(config.database.url)}`,
      '',
      `  API key        ${apiKey}  (admin, for this machine; replaced at each start)`,
      '',
      '  Start a sample run:',
      ...(await sampleRunLines(apiUrl, apiKey)),
      '  then follow it with the statusUrl it returns, or in the Temporal UI.',
      '',
      '  Ctrl-C stops everything started here.',
      '',
    ].join('\n'),
  );
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
