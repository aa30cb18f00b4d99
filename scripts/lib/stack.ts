/**
 * What `npm run dev` and `npm run cluster` share: the product's processes
 * as supervised children with prefixed output (restarted when they exit),
 * local catchers standing in for providers not configured, the database
 * prepared, and one Ctrl-C (or SIGTERM, or SIGHUP) that stops it all.
 */
import { existsSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { createApiKey, listApiKeys, revokeApiKey } from '../../db/api-keys';
import { createDb } from '../../db/client';
import { migrateToLatest } from '../../db/migrator';
import { seedTemplates } from '../../db/seed';
import { type Config, ConfigError, loadConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';
import { ensureSearchAttributes } from '../../src/temporal/client';
import { entryFile } from '../../src/paths';
import { loadTemplates } from '../../src/templates';
import { isPortTaken } from './ports';
import { type HttpSink, mailSubject, type SmtpSink, startHttpSink, startSmtpSink } from './sinks';
import { createSupervisor, type SupervisedChild } from './supervisor';

/** The signals that stop a stack: Ctrl-C, a service manager's stop, a closed terminal. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How often a stack looks whether the process that started it (npm) is still there. */
const PARENT_CHECK_MS = 250;

export interface Stack {
  say(line: string): void;
  /** The environment the stack's processes get: this one's, with `.env` loaded first if there is one. */
  environment(): Record<string, string | undefined>;
  /** Registers something to stop at shutdown, after the children, in reverse order. */
  onStop(name: string, stop: () => Promise<unknown>): void;
  /**
   * Starts `entry` (a TypeScript file) with `env` as a supervised child: when
   * it exits it is started again after a backoff, saying so, and the rest keep
   * running; one that keeps exiting right after it starts stops the stack.
   */
  startChild(name: string, entry: string, env: Record<string, string | undefined>): SupervisedChild;
  waitForHealthy(apiUrl: string, timeoutMs?: number): Promise<void>;
  shutdown(code: number): Promise<void>;
  /** Runs `main`, stopping everything on Ctrl-C, SIGTERM or SIGHUP, or when it fails. */
  run(main: () => Promise<void>): void;
}

export function createStack(tag: string): Stack {
  const say = (line: string) => process.stdout.write(`[${tag}] ${line}\n`);
  const stops: { name: string; stop: () => Promise<unknown> }[] = [];
  let shuttingDown = false;
  const supervisor = createSupervisor({
    say,
    onGiveUp: (name) => {
      say(`${name} cannot stay up; stopping the rest (see its messages above)`);
      void stack.shutdown(1);
    },
  });

  const stack: Stack = {
    say,
    environment() {
      if (existsSync('.env')) {
        process.loadEnvFile('.env');
        say('loaded .env');
      }
      return { ...process.env };
    },
    onStop(name, stop) {
      stops.push({ name, stop });
    },
    startChild(name, entry, env) {
      const defined = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
      // Node itself on the compiled entry point (compile() first): one process, no loader, nothing to outlive it.
      return supervisor.start(name, process.execPath, ['--enable-source-maps', entryFile(entry, true)], defined);
    },
    async waitForHealthy(apiUrl, timeoutMs = 120_000) {
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
      throw new Error(`the gateway at ${apiUrl} did not report healthy within ${timeoutMs / 1000} s: ${last}`);
    },
    async shutdown(code) {
      if (shuttingDown) return;
      shuttingDown = true;
      say('stopping…');
      await supervisor.stop();
      for (const { name, stop } of stops.reverse()) {
        await stop().then(
          () => say(`stopped ${name}`),
          (err: unknown) => say(`could not stop ${name}: ${String(err)}`),
        );
      }
      say('stopped');
      process.exit(code);
    },
    run(main) {
      for (const signal of STOP_SIGNALS) {
        process.on(signal, () => {
          if (shuttingDown) say(`${signal}: already stopping; each process is killed if it does not stop in a few seconds`);
          else say(`${signal}: stopping everything started here`);
          void stack.shutdown(0);
        });
      }
      // npm forwards SIGINT and SIGTERM to this process but dies of a SIGHUP sent to it alone,
      // leaving this one behind: the parent going away stops the stack as the signal would have.
      const parent = process.ppid;
      const watch = setInterval(() => {
        if (process.ppid === parent || shuttingDown) return;
        clearInterval(watch);
        say(`the process that started this one (pid ${parent}) has gone: stopping everything started here`);
        void stack.shutdown(0);
      }, PARENT_CHECK_MS);
      watch.unref();
      main().catch(async (err: unknown) => {
        process.stderr.write(`[${tag}] ${err instanceof Error ? err.message : String(err)}\n`);
        await stack.shutdown(1);
      });
    },
  };
  return stack;
}

/**
 * Without `SMTP_HOST` or Slack credentials in `env`, local catchers that
 * print what would have been sent; sets `env` to use them.
 */
export async function catchUnconfiguredProviders(stack: Stack, env: Record<string, string | undefined>): Promise<void> {
  if (!env.SMTP_HOST) {
    const smtp: SmtpSink = await startSmtpSink((await isPortTaken(2525)) ? 0 : 2525);
    smtp.onMessage = (mail) => stack.say(`✉  email to ${mail.to.join(', ')}: ${mailSubject(mail.raw) ?? '(no subject)'}`);
    stack.onStop('SMTP catcher', () => smtp.close());
    Object.assign(env, { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_SECURE: 'false' });
    env.SMTP_FROM ??= 'automation@localhost';
    stack.say(`no SMTP_HOST set: emails go to a local catcher on port ${smtp.port} and are printed here`);
  }
  if (!env.SLACK_BOT_TOKEN && !env.SLACK_WEBHOOK_URL) {
    const slack: HttpSink = await startHttpSink();
    slack.onRequest = (req) => stack.say(`#  Slack: ${(req.json as { text?: string } | undefined)?.text ?? req.body}`);
    stack.onStop('Slack catcher', () => slack.close());
    env.SLACK_WEBHOOK_URL = `${slack.url}/slack-webhook`;
    stack.say('no Slack credentials set: Slack messages go to a local catcher and are printed here');
  }
}

/**
 * Applies the migrations, seeds the templates, and makes an admin key named
 * `keyName` for this machine. Its plaintext cannot be read back, so each
 * start revokes the previous key of that name and makes a new one.
 */
export async function prepareDatabase(stack: Stack, databaseUrl: string, keyName: string): Promise<string> {
  stack.say('applying migrations and seeding templates');
  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    await migrateToLatest(db);
    for (const old of await listApiKeys(db)) {
      if (old.name === keyName && !old.revoked_at) await revokeApiKey(db, old.id);
    }
    const { key } = await createApiKey(db, { name: keyName, role: 'admin' });
    const seeded = await seedTemplates(db, await loadTemplates());
    stack.say(
      `templates: ${seeded.created.length} created, ${seeded.updated.length} updated, ${seeded.unchanged.length} unchanged, ${seeded.kept.length} kept (edited by an admin)`,
    );
    return key;
  } finally {
    await db.destroy();
  }
}

/** A `curl` that starts the sample run at `apiUrl`, and the lines that go with it. */
export async function sampleRunLines(apiUrl: string, apiKey: string): Promise<string[]> {
  const sample = (await loadTemplates()).find((t) => t.key === 'welcome-email');
  const triggerData = JSON.stringify({ triggerData: sample?.exampleTriggerData ?? {} });
  return [
    `    curl -s -X POST ${apiUrl}/api/workflows/welcome-email/execute \\`,
    `      -H 'authorization: Bearer ${apiKey}' \\`,
    `      -H 'content-type: application/json' -d '${triggerData.replace(/'/g, "'\\''")}'`,
  ];
}

/** The configuration of `env`, or an error that says which command to run again once `.env` is fixed. */
export function stackConfig(env: Record<string, string | undefined>, command: string): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`${err.message}\nFix .env (see .env.example) and run ${command} again.`);
    throw err;
  }
}

/** Registers the product's search attributes on the stack's Temporal, saying which were missing. */
export async function registerSearchAttributes(stack: Stack, config: Config): Promise<void> {
  const connection = await Connection.connect(temporalConnectionOptions(config.temporal));
  try {
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    if (added.length) stack.say(`registered search attributes: ${added.join(', ')}`);
  } finally {
    await connection.close();
  }
}
