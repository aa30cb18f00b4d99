/**
 * `outage`: Postgres failing over under the production topology, where the
 * real Temporal server keeps its persistence and visibility on the same
 * Postgres as the product. Everything runs on a Postgres this benchmark owns
 * (scripts/lib/controlled-postgres.ts, never the machine's shared one): the
 * product's database and Temporal's two. As `npm run cluster` runs them, two
 * workers and a gateway are supervised children, started again when they
 * exit. 50 runs of `email → delay 3 s → email → email`, started through the
 * gateway and paced so they are still sending, live through three outages:
 * `pg_ctl stop -m fast` for 20 s, `-m immediate` for 60 s at the moment the
 * SMTP peer takes a message, and a SIGKILL of the postmaster for 10 s.
 * Afterwards it counts what matters: runs ended and how, each mail at the
 * SMTP peer, ledger rows, step-log rows, and whether each process kept its pid.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema';
import { ERROR_TYPES } from '../../src/shared/run';
import type { ControlledPostgres } from '../lib/controlled-postgres';
import { entryFile } from '../../src/paths';
import { freePort } from '../lib/ports';
import { startSmtpSink } from '../lib/sinks';
import { createSupervisor, type SupervisedChild } from '../lib/supervisor';
import type { Say } from '../lib/temporal';
import { TEMPORAL_SERVER_VERSION } from '../lib/temporal-server';
import type { Benchmark } from './benchmarks';
import { gatewayApi, startServerStack } from './server-stack';

export const OUTAGE_SIZES = {
  runs: 50,
  mailsPerRun: 3,
  /** Slow enough that runs are still sending through all three outages. */
  mailsPerMinute: 240,
  fastMs: 20_000,
  immediateMs: 60_000,
  killMs: 10_000,
  /** How long the runs get to end after Postgres's last return. */
  endWithinMs: 15 * 60_000,
  /** How long the mirror gets after that to agree with Temporal. */
  mirrorWithinMs: 120_000,
} as const;

const STEPS = ['first', 'second', 'third'] as const;
const DEFINITION = {
  key: 'outage-mails',
  name: 'Three mails around a delay',
  steps: [
    { id: 'first', type: 'email', to: '{{ input.user }}+first@example.test', subject: 'first', text: 'hello' },
    { id: 'pause', type: 'delay', duration: '3s' },
    { id: 'second', type: 'email', to: '{{ input.user }}+second@example.test', subject: 'second', text: 'hello' },
    { id: 'third', type: 'email', to: '{{ input.user }}+third@example.test', subject: 'third', text: 'hello' },
  ],
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface StartedRun {
  user: string;
  executionId: string;
  workflowId: string;
  runId: string;
}

interface Outage {
  how: string;
  downAt: number;
  upAt: number;
}

/** What a product process printed that the report counts. */
interface ProcessWatch {
  child: SupervisedChild;
  firstPid: number | undefined;
  unreachable: number;
  polling: number;
}

export const outage: Benchmark = {
  name: 'outage',
  summary:
    "Postgres failing over under the cluster topology: the product's database and the Temporal server's on one Postgres of the benchmark's own, " +
    'stopped three times while 50 runs are in flight',
  workload: () =>
    `${OUTAGE_SIZES.runs} runs of \`email → delay 3 s → email → email\` started through the gateway, mails paced at ${OUTAGE_SIZES.mailsPerMinute} a minute, ` +
    `on the Temporal server ${TEMPORAL_SERVER_VERSION}, two workers and a gateway (supervised, as \`npm run cluster\` runs them); Postgres stopped with ` +
    `\`-m fast\` for ${OUTAGE_SIZES.fastMs / 1000} s, \`-m immediate\` for ${OUTAGE_SIZES.immediateMs / 1000} s, and by SIGKILL of the postmaster for ${OUTAGE_SIZES.killMs / 1000} s`,
  async run(_env, say) {
    const size = OUTAGE_SIZES;
    const scratch = await mkdtemp(join(tmpdir(), 'wfa-bench-outage-'));
    // The processes' and the server's output, kept after the run for a look at what happened.
    const logPath = join(tmpdir(), `wfa-bench-outage-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    const log = createWriteStream(logPath);
    const note = (line: string) => log.write(`${new Date().toISOString()} ${line}\n`);
    const tell: Say = (line) => {
      say(`outage: ${line}`);
      note(`[bench] ${line}`);
    };
    const stops: (() => Promise<unknown>)[] = [() => rm(scratch, { recursive: true, force: true }), () => new Promise((r) => log.end(r))];
    let postgres: ControlledPostgres | undefined;
    try {
      // --- Postgres of our own, holding the product's database and Temporal's two; the server on it ----
      const { pg, productUrl, db, apiKey, server, client } = await startServerStack({
        say: tell,
        scratch,
        stops,
        keyName: 'outage benchmark',
        onOutput: (text) => log.write(text.replace(/^/gm, '[temporal] ')),
      });
      postgres = pg;
      const serverPid = server.pid;

      // --- the SMTP peer, two workers and a gateway ---------------------------------------------------
      const smtp = await startSmtpSink();
      stops.push(() => smtp.close());
      const gatewayPort = await freePort();
      const environment = {
        ...process.env,
        DATABASE_URL: productUrl,
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: 'default',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_FROM: 'automation@example.test',
        PACING_EMAIL_PER_MINUTE: String(size.mailsPerMinute),
        LOG_LEVEL: 'info',
        NODE_ENV: 'production',
      };
      const watches = new Map<string, ProcessWatch>();
      const supervisor = createSupervisor({
        say: tell,
        write: (_stream, text) => {
          log.write(text);
          for (const line of text.split('\n')) {
            const name = /^\[([\w-]+)\]/.exec(line)?.[1];
            const watch = name ? watches.get(name) : undefined;
            if (!watch) continue;
            if (line.includes('Postgres is unreachable')) watch.unreachable += 1;
            if (line.includes('worker polling')) watch.polling += 1;
          }
        },
        onGiveUp: (name) => tell(`${name} gave up on by the supervisor`),
      });
      stops.push(() => supervisor.stop());
      const startChild = (name: string, entry: string, env: NodeJS.ProcessEnv) => {
        const child = supervisor.start(name, process.execPath, [entryFile(entry, true)], env);
        watches.set(name, { child, firstPid: child.pid, unreachable: 0, polling: 0 });
      };
      startChild('worker-1', 'src/worker/main.ts', environment);
      startChild('worker-2', 'src/worker/main.ts', environment);
      startChild('gateway', 'src/gateway/main.ts', { ...environment, PORT: String(gatewayPort) });
      const gateway = `http://127.0.0.1:${gatewayPort}`;
      const api = gatewayApi(gateway, apiKey);
      await until(
        async () =>
          [...watches.entries()].every(([name, w]) => !name.startsWith('worker') || w.polling > 0) &&
          (await fetch(`${gateway}/api/health/workflows`).then((r) => r.ok).catch(() => false)),
        180_000,
        'both workers to poll and the gateway to report healthy',
      );
      tell(`two workers polling, gateway at ${gateway}`);

      // --- 50 runs through the gateway ------------------------------------------------------------------
      const created = await api('POST', '/api/workflows', DEFINITION);
      if (created.status !== 201) throw new Error(`creating the definition answered ${created.status}: ${JSON.stringify(created.body)}`);
      const runs: StartedRun[] = await Promise.all(
        Array.from({ length: size.runs }, async (_, i) => {
          const user = `user${i}`;
          const started = await api('POST', `/api/workflows/${DEFINITION.key}/execute`, { triggerData: { user } });
          if (started.status !== 202) throw new Error(`starting run ${i} answered ${started.status}: ${JSON.stringify(started.body)}`);
          return { user, ...(started.body as { executionId: string; workflowId: string; runId: string }) };
        }),
      );
      tell(`${runs.length} runs started through the gateway`);

      // --- three outages --------------------------------------------------------------------------------
      const outages: Outage[] = [];
      const skipped: string[] = [];
      const received = () => smtp.messages.length;
      const waitForMails = async (count: number, before: string) => {
        const ok = await until(async () => received() >= count, 300_000, '').then(
          () => true,
          () => false,
        );
        if (!ok) {
          skipped.push(`${before}: ${count} mails not reached within 300 s (${received()})`);
          tell(`only ${received()} mails within 300 s, not ${count}; going on with ${before}`);
        }
      };
      const down = async (how: string, stop: () => Promise<void>, holdMs: number) => {
        tell(`${received()} mails so far; Postgres down: ${how}, for ${holdMs / 1000} s`);
        const downAt = Date.now();
        await stop();
        await sleep(holdMs - (Date.now() - downAt));
        await pg.start();
        outages.push({ how, downAt, upAt: Date.now() });
        tell(`Postgres back after ${seconds(Date.now() - downAt)} (pid ${pg.pid})`);
      };

      // 1. A clean stop: the server ends every connection, then refuses new ones.
      await waitForMails(20, 'the fast stop');
      await down('pg_ctl stop -m fast', () => pg.stop('fast'), size.fastMs);

      // 2. A crash while a message is being taken: accepted only once Postgres is gone, so neither
      //    the ledger nor (its persistence on the same Postgres) Temporal can hear of it at once.
      const mid = received() + 10;
      let crash: Promise<void> | undefined;
      let held: string | undefined;
      smtp.onRecipient = (address) => {
        if (crash || received() < mid) return undefined;
        held = address;
        crash = pg.stop('immediate');
        return crash;
      };
      await waitForMails(mid, 'the immediate stop');
      const crashedAt = Date.now();
      if (!crash) crash = pg.stop('immediate');
      await crash;
      smtp.onRecipient = undefined;
      tell(`${received()} mails so far; Postgres down: pg_ctl stop -m immediate (as the SMTP peer took a message), for ${size.immediateMs / 1000} s`);
      await sleep(size.immediateMs - (Date.now() - crashedAt));
      await pg.start();
      outages.push({ how: 'pg_ctl stop -m immediate', downAt: crashedAt, upAt: Date.now() });
      tell(`Postgres back after ${seconds(Date.now() - crashedAt)} (pid ${pg.pid})`);

      // 3. The postmaster killed outright.
      await waitForMails(received() + 10, 'the SIGKILL');
      await down('SIGKILL of the postmaster', () => pg.kill(), size.killMs);
      const back = outages.at(-1)!.upAt;

      // --- until every run ends -------------------------------------------------------------------------
      const closed = new Map<string, { status: string; runId: string; closeTime: number | undefined }>();
      let describeErrors = 0;
      const endDeadline = back + size.endWithinMs;
      let lastProgress = 0;
      while (closed.size < runs.length && Date.now() < endDeadline) {
        for (const run of runs) {
          if (closed.has(run.workflowId)) continue;
          try {
            const d = await client.workflow.getHandle(run.workflowId).describe();
            if (d.status.name !== 'RUNNING') closed.set(run.workflowId, { status: d.status.name, runId: d.runId, closeTime: d.closeTime?.getTime() });
          } catch {
            describeErrors += 1;
          }
        }
        if (Date.now() - lastProgress >= 10_000 || closed.size === runs.length) {
          lastProgress = Date.now();
          const mirror = await mirrorStatuses(db, runs).catch(() => undefined);
          tell(
            `${seconds(Date.now() - back)} after Postgres's return: ${closed.size}/${runs.length} runs ended in Temporal, ` +
              `${received()}/${runs.length * size.mailsPerRun} mails, mirror ${mirror ? describeCounts(mirror) : 'unreadable'}` +
              (server.running() ? '' : '; the Temporal server has exited'),
          );
        }
        if (closed.size < runs.length) await sleep(2_000);
      }
      const allEnded = closed.size === runs.length;
      tell(`the processes' and the Temporal server's output is kept in ${logPath}`);
      const lastEnd = Math.max(...[...closed.values()].map((c) => c.closeTime ?? 0));

      // The mirror gets its time to agree: every row final, matching Temporal.
      const final = (s: string) => s !== 'RUNNING' && s !== 'WAITING' && s !== 'PENDING';
      let mirror = new Map<string, string>();
      await until(
        async () => {
          mirror = await perRunMirror(db, runs).catch(() => mirror);
          return [...mirror.values()].every(final) && mirror.size === runs.length;
        },
        size.mirrorWithinMs,
        '',
      ).catch(() => undefined);

      // --- the counts -----------------------------------------------------------------------------------
      const temporalCounts = countBy(runs.map((r) => closed.get(r.workflowId)?.status ?? 'RUNNING (not ended)'));
      const reset = runs.filter((r) => closed.get(r.workflowId) && closed.get(r.workflowId)!.runId !== r.runId).length;
      const mirrorCounts = countBy(runs.map((r) => mirror.get(r.executionId) ?? 'missing'));
      const mirrorMismatch = runs.filter((r) => {
        const t = closed.get(r.workflowId)?.status;
        const m = mirror.get(r.executionId);
        return t === undefined || m === undefined || (t === 'COMPLETED') !== (m === 'SUCCESS');
      }).length;

      const perRecipient = new Map<string, number>();
      for (const mail of smtp.messages) for (const to of mail.to) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
      const expected = runs.flatMap((r) => STEPS.map((step) => `${r.user}+${step}@example.test`));
      const duplicates = expected.filter((to) => (perRecipient.get(to) ?? 0) > 1).map((to) => `${to} ×${perRecipient.get(to)}`);
      const missing = expected.filter((to) => !perRecipient.has(to));
      const unexpected = [...perRecipient.keys()].filter((to) => !expected.includes(to));

      const duplicatedRows = duplicates.length
        ? await db
            .selectFrom('deliveries')
            .select(['recipient', 'status', 'attempts', 'claimed_by'])
            .where('recipient', 'in', expected.filter((to) => (perRecipient.get(to) ?? 0) > 1))
            .execute()
        : [];
      const ledger = await db.selectFrom('deliveries').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
      const duplicateLogs = await sql<{ n: number }>`
        select count(*)::int as n from (
          select execution_id, step_path, event, attempt from workflow_execution_logs
          group by 1, 2, 3, 4 having count(*) > 1) d`.execute(db);
      const failedRows = await db
        .selectFrom('workflow_execution_logs')
        .select(['error_type', (eb) => eb.fn.countAll<number>().as('n')])
        .where('event', '=', 'FAILED')
        .groupBy('error_type')
        .execute();
      const undocumented = failedRows.filter((r) => !r.error_type || !(r.error_type in ERROR_TYPES));

      const processes = [...watches.entries()].map(([name, w]) => ({
        name,
        kept: w.child.restarts === 0 && w.child.pid === w.firstPid,
        text:
          w.child.restarts === 0 && w.child.pid === w.firstPid
            ? `kept pid ${w.firstPid}`
            : `restarted ${w.child.restarts} time(s) by the supervisor (pid ${w.firstPid} → ${w.child.pid ?? 'none'})`,
        unreachable: w.unreachable,
      }));
      const serverKept = server.running() && server.pid === serverPid;

      const total = runs.length * size.mailsPerRun;
      const temporalSuccess = temporalCounts.get('COMPLETED') ?? 0;
      const mirrorSuccess = mirrorCounts.get('SUCCESS') ?? 0;
      const sentRows = ledger.find((r) => r.status === 'SENT')?.n ?? 0;
      const failedTotal = failedRows.reduce((n, r) => n + Number(r.n), 0);
      const returnToEnd = allEnded ? lastEnd - back : undefined;
      const rows: string[][] = [
        ['runs SUCCESS, by Temporal (describe)', String(temporalSuccess), String(runs.length), others(temporalCounts, 'COMPLETED') + (reset ? `; ${reset} reset` : '; none reset')],
        ['runs SUCCESS, by the mirror', String(mirrorSuccess), String(runs.length), others(mirrorCounts, 'SUCCESS') + `; ${mirrorMismatch} disagreeing with Temporal`],
        ['mails at the SMTP peer', String(smtp.messages.length), String(total), `${duplicates.length ? `duplicates: ${duplicates.join(', ')}` : 'no duplicates'}; ${missing.length ? `missing: ${missing.join(', ')}` : 'none missing'}${unexpected.length ? `; unexpected: ${unexpected.join(', ')}` : ''}`],
        ['ledger rows SENT', String(sentRows), String(total), ledger.map((r) => `${r.status} ${r.n}`).join(', ') || 'none'],
        ['duplicate step-log rows', String(duplicateLogs.rows[0]?.n ?? 0), '0', 'same run, step, event and attempt'],
        [
          'FAILED step-log rows',
          String(failedTotal),
          '–',
          failedRows.length ? failedRows.map((r) => `${r.error_type ?? 'no type'} ${r.n}`).join(', ') + (undocumented.length ? ' (undocumented types!)' : ', every type documented') : 'none',
        ],
        ...processes.map((p) => [`${p.name} process`, p.kept ? 'kept pid' : 'restarted', 'kept pid', `${p.text}; said "Postgres is unreachable" ${p.unreachable} time(s)`]),
        ['Temporal server process', serverKept ? 'kept pid' : 'exited', 'kept pid', serverKept ? `kept pid ${serverPid} (not supervised)` : `pid ${serverPid} exited`],
        ['Postgres return → last run ended', returnToEnd === undefined ? 'not all ended' : seconds(returnToEnd), '–', allEnded ? 'from the last start of Postgres to the latest close time Temporal reports' : `${runs.length - closed.size} runs still open ${seconds(size.endWithinMs)} after`],
      ];
      const outageNote = outages.map((o) => `${o.how} ${seconds(o.upAt - o.downAt)}`).join(', then ');
      const notes = [
        `Postgres went down ${outages.length} times: ${outageNote}; each time both the product's database and the Temporal server's persistence and visibility were gone`,
        `the Temporal server ${TEMPORAL_SERVER_VERSION} (every service in one process, deploy/temporal/config/cluster.yaml) on that Postgres; two workers and a gateway as supervised processes, as \`npm run cluster\` runs them; mails paced at ${size.mailsPerMinute} a minute`,
        `the immediate stop was made while the SMTP peer held a message's recipient, so that message was accepted with Postgres (and so Temporal's persistence) gone`,
        `the message held at the immediate stop: ${held ?? 'none (the stop came without one)'}` +
          (duplicatedRows.length
            ? `; ledger rows of the duplicated mails: ${duplicatedRows.map((r) => `${r.recipient} ${r.status} after ${r.attempts} claims (last by attempt ${r.claimed_by?.split('#')[1] ?? '?'})`).join(', ')}`
            : ''),
        `${describeErrors} describe calls failed while waiting for the runs (Temporal unavailable)`,
        ...skipped,
      ];
      const met =
        temporalSuccess === runs.length &&
        reset === 0 &&
        mirrorSuccess === runs.length &&
        smtp.messages.length === total &&
        duplicates.length === 0 &&
        missing.length === 0 &&
        (duplicateLogs.rows[0]?.n ?? 0) === 0 &&
        undocumented.length === 0 &&
        processes.every((p) => p.kept);
      return {
        table: {
          title: `outage — ${outage.summary}`,
          latencyNote: '',
          throughputUnit: '',
          rows: [],
          notes,
          counts: { headers: ['measured', 'count', 'expected', 'detail'], rows },
        },
        targets: [
          {
            goal: 'with Temporal on the same Postgres, after three outages: every run SUCCESS with no reset, each of the 150 mails once, no duplicate step-log row, every worker and gateway with its first pid',
            met,
            measured:
              `${temporalSuccess}/${runs.length} SUCCESS in Temporal, ${mirrorSuccess}/${runs.length} in the mirror, ${smtp.messages.length}/${total} mails ` +
              `(${duplicates.length} duplicated, ${missing.length} missing), ${duplicateLogs.rows[0]?.n ?? 0} duplicate log rows, ` +
              `${processes.filter((p) => p.kept).length}/${processes.length} processes kept their pid` +
              (returnToEnd === undefined ? '' : `, last run ended ${seconds(returnToEnd)} after Postgres's return`),
          },
        ],
      };
    } finally {
      // A run that failed mid-outage leaves Postgres stopped: the stops below need it to finish cleanly.
      await postgres?.start().catch(() => undefined);
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    }
  },
};

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`waited ${ms / 1000} s for ${what}`);
    await sleep(500);
  }
}

async function perRunMirror(db: Kysely<Database>, runs: StartedRun[]): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('workflow_executions')
    .select(['id', 'status'])
    .where('id', 'in', runs.map((r) => r.executionId))
    .execute();
  return new Map(rows.map((r) => [String(r.id), String(r.status)]));
}

async function mirrorStatuses(db: Kysely<Database>, runs: StartedRun[]): Promise<Map<string, number>> {
  return countBy([...(await perRunMirror(db, runs)).values()]);
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

function describeCounts(counts: Map<string, number>): string {
  return [...counts.entries()].map(([k, n]) => `${k} ${n}`).join(', ') || 'empty';
}

function others(counts: Map<string, number>, success: string): string {
  const rest = [...counts.entries()].filter(([k]) => k !== success);
  return rest.length ? `other: ${rest.map(([k, n]) => `${k} ${n}`).join(', ')}` : 'no other';
}
