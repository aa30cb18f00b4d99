/**
 * `npm run dev`: the whole stack on one machine. Starts (or reuses) a Temporal
 * dev server and a Postgres, applies migrations, seeds the templates, starts
 * the worker and the gateway, and prints where everything is. Ctrl-C stops
 * everything it started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/api-keys';
import { createDb } from '../db/client';
import { migrateToLatest } from '../db/migrator';
import { seedTemplates } from '../db/seed';
import { ConfigError, loadConfig, redactUrl } from '../src/config';
import { ensureSearchAttributes } from '../src/temporal/client';
import { loadTemplates } from '../src/templates';
import { obtainPostgres, type RunningPostgres } from './lib/postgres';
import { freePort, isPortTaken } from './lib/ports';
import { type HttpSink, type SmtpSink, startHttpSink, startSmtpSink } from './lib/sinks';
import { type DevServer, startTemporal } from './lib/temporal';

const DATA_DIR = resolve('data');
const say = (line: string) => process.stdout.write(`[dev] ${line}\n`);

const stops: { name: string; stop: () => Promise<unknown> }[] = [];
const children: ChildProcess[] = [];
let shuttingDown = false;

async function main(): Promise<void> {
  if (existsSync('.env')) {
    process.loadEnvFile('.env');
    say('loaded .env');
  }
  const env: Record<string, string | undefined> = { ...process.env };

  // Temporal: the configured server, one already on :7233, or a dev server we start.
  if (!env.TEMPORAL_ADDRESS) {
    if ((await isPortTaken(7233)) && (await answersAsTemporal('127.0.0.1:7233'))) {
      say('a Temporal server already listens on 127.0.0.1:7233; using it');
      env.TEMPORAL_ADDRESS = '127.0.0.1:7233';
    } else {
      say('starting the Temporal dev server (state kept in data/temporal/temporal.db)');
      const temporal: DevServer = await startTemporal(
        { port: 7233, uiPort: 8233, dbFile: resolve(DATA_DIR, 'temporal', 'temporal.db') },
        say,
      );
      stops.push({ name: 'Temporal dev server', stop: () => temporal.stop() });
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
    stops.push({ name: 'embedded Postgres', stop: () => postgres.stop() });
  }
  env.DATABASE_URL = postgres.url;

  // Providers: with none configured, loopback sinks print what would be sent.
  if (!env.SMTP_HOST) {
    const smtp: SmtpSink = await startSmtpSink((await isPortTaken(2525)) ? 0 : 2525);
    smtp.onMessage = (mail) => say(`✉  email to ${mail.to.join(', ')}: ${subjectOf(mail.raw)}`);
    stops.push({ name: 'SMTP catcher', stop: () => smtp.close() });
    Object.assign(env, { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_SECURE: 'false' });
    env.SMTP_FROM ??= 'automation@localhost';
    say(`no SMTP_HOST set: emails go to a local catcher on port ${smtp.port} and are printed here`);
  }
  if (!env.SLACK_BOT_TOKEN && !env.SLACK_WEBHOOK_URL) {
    const slack: HttpSink = await startHttpSink();
    slack.onRequest = (req) => say(`#  Slack: ${(req.json as { text?: string } | undefined)?.text ?? req.body}`);
    stops.push({ name: 'Slack catcher', stop: () => slack.close() });
    env.SLACK_WEBHOOK_URL = `${slack.url}/slack-webhook`;
    say('no Slack credentials set: Slack messages go to a local catcher and are printed here');
  }

  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`${err.message}\nFix .env (see .env.example) and run npm run dev again.`);
    throw err;
  }
  if (await isPortTaken(config.http.port)) {
    throw new Error(`port ${config.http.port} is taken; stop what uses it or set PORT in .env`);
  }

  say('applying migrations and seeding templates');
  const db = createDb({ url: config.database.url, poolMax: 2 });
  let apiKey: string;
  try {
    await migrateToLatest(db);
    apiKey = await devApiKey(db);
    const seeded = await seedTemplates(db, await loadTemplates());
    say(`templates: ${seeded.created.length} created, ${seeded.updated.length} updated, ${seeded.unchanged.length} unchanged, ${seeded.kept.length} kept (edited by an admin)`);
  } finally {
    await db.destroy();
  }
  const connection = await Connection.connect({ address: config.temporal.address });
  const added = await ensureSearchAttributes(connection, config.temporal.namespace);
  if (added.length) say(`registered search attributes: ${added.join(', ')}`);
  await connection.close();

  const childEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  children.push(startChild('worker', 'src/worker/main.ts', childEnv));
  children.push(startChild('gateway', 'src/gateway/main.ts', childEnv));

  const apiUrl = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
  await waitForHealthy(apiUrl);

  const sample = (await loadTemplates()).find((t) => t.key === 'welcome-email');
  const triggerData = JSON.stringify({ triggerData: sample?.exampleTriggerData ?? {} });
  process.stdout.write(
    [
      '',
      '  Workflow automation is running.',
      '',
      `  API            ${apiUrl}  (health: ${apiUrl}/api/health/workflows)`,
      `  Temporal UI    ${config.temporal.uiUrl}`,
      `  Temporal       ${config.temporal.address}  namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
      `  Postgres       ${redactUrl(config.database.url)}`,
      '',
      `  API key        ${apiKey}  (admin, for this machine; replaced at each start)`,
      '',
      '  Start a sample run:',
      `    curl -s -X POST ${apiUrl}/api/workflows/welcome-email/execute \\`,
      `      -H 'authorization: Bearer ${apiKey}' \\`,
      `      -H 'content-type: application/json' -d '${triggerData.replace(/'/g, "'\\''")}'`,
      '  then follow it with the statusUrl it returns, or in the Temporal UI.',
      '',
      '  Ctrl-C stops everything started here.',
      '',
    ].join('\n'),
  );
}

/**
 * An admin key for the local stack. Its plaintext cannot be read back, so each
 * start revokes the previous one and makes a new one.
 */
async function devApiKey(db: ReturnType<typeof createDb>): Promise<string> {
  const name = 'npm run dev';
  for (const old of await listApiKeys(db)) {
    if (old.name === name && !old.revoked_at) await revokeApiKey(db, old.id);
  }
  return (await createApiKey(db, { name, role: 'admin' })).key;
}

function startChild(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const tsx = resolve('node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => `[${name}] ${line}\n`)
      .join('');
  child.stdout?.on('data', (c: Buffer) => process.stdout.write(prefix(c)));
  child.stderr?.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.on('exit', (code, signal) => {
    if (!shuttingDown) {
      say(`${name} exited (${signal ?? `code ${code}`}); stopping the rest`);
      void shutdown(1);
    }
  });
  return child;
}

async function waitForHealthy(apiUrl: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (shuttingDown) return;
    try {
      const res = await fetch(`${apiUrl}/api/health/workflows`);
      if (res.ok) return;
      last = JSON.stringify(await res.json());
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the gateway did not report healthy within ${timeoutMs / 1000} s: ${last}`);
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

function subjectOf(raw: string): string {
  return raw.match(/^Subject: (.*)$/m)?.[1] ?? '(no subject)';
}

async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  say('stopping…');
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  for (const { name, stop } of stops.reverse()) {
    await stop().catch((err: unknown) => say(`could not stop ${name}: ${String(err)}`));
  }
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch(async (err: unknown) => {
  process.stderr.write(`[dev] ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
