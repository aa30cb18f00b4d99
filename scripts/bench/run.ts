/**
 * `npm run bench`: the benchmarks, on a Temporal dev server and a Postgres
 * this script starts, printing one table per benchmark.
 *
 *   npm run bench                     every benchmark
 *   npm run bench -- interpreter      one (or several) by name
 *   npm run bench -- --record         every benchmark, then replaces docs/BENCHMARKS.md
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { BENCHMARKS, type Benchmark, type Outcome, SIZES } from './benchmarks';
import { type BenchEnv, SERVER_SETUPS, startBenchEnv } from './env';
import { formatMarkdown, formatText } from './stats';

const execFileAsync = promisify(execFile);
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const REPORT_PATH = new URL('../../docs/BENCHMARKS.md', import.meta.url);
const RECORD_COMMAND = 'npm run bench -- --record';

/** The commit measured, and what differed from it (the benchmark's own files aside). */
async function codeMeasured(): Promise<string> {
  try {
    const head = (await execFileAsync('git', ['rev-parse', '--short', 'HEAD'], { timeout: 5_000 })).stdout.trim();
    const status = (await execFileAsync('git', ['status', '--porcelain'], { timeout: 5_000 })).stdout;
    const changed = status
      .split('\n')
      .map((line) => line.slice(3).trim())
      .filter((path) => path && path !== 'node_modules' && !path.startsWith('scripts/bench/') && path !== 'docs/BENCHMARKS.md');
    if (changed.length === 0) return `commit ${head}`;
    return `commit ${head} with uncommitted changes to ${changed.length <= 6 ? changed.join(', ') : `${changed.length} files`}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  uptimeBefore: string;
  uptimeAfter?: string;
  code: string;
}

async function uptime(): Promise<string> {
  try {
    return (await execFileAsync('uptime', [], { timeout: 5_000 })).stdout.trim();
  } catch {
    return `load average: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
}

function parseArgs(argv: string[]): { names: string[]; record: boolean } {
  const names: string[] = [];
  let record = false;
  for (const arg of argv) {
    if (arg === '--record') record = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        `usage: npm run bench [-- <name>…] [-- --record]\n\nbenchmarks:\n${BENCHMARKS.map((b) => `  ${b.name.padEnd(14)} ${b.summary}`).join('\n')}\n`,
      );
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg} (try --help)`);
    else names.push(arg);
  }
  const known = new Set(BENCHMARKS.map((b) => b.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(', ')}; there are ${[...known].join(', ')}`);
  if (record && names.length) throw new Error('--record runs every benchmark: give no names with it');
  return { names, record };
}

async function main(): Promise<void> {
  const { names, record } = parseArgs(process.argv.slice(2));
  const selected = names.length ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const machine: Machine = {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    uptimeBefore: await uptime(),
    code: await codeMeasured(),
  };
  say(`${machine.cpus} CPUs, ${machine.memoryGiB.toFixed(1)} GiB, Node.js ${machine.node}; ${machine.uptimeBefore}`);

  const started = Date.now();
  // Ctrl-C once the environment is up stops what it started (the dev servers run in their own process group).
  const running: { env?: BenchEnv } = {};
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('interrupted: stopping what was started');
    void (running.env?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });

  const outcomes: { bench: Benchmark; outcome: Outcome }[] = [];
  const env = await startBenchEnv(say);
  running.env = env;
  try {
    for (const bench of selected) {
      if (interrupted) return;
      const t0 = Date.now();
      const outcome = await bench.run(env, say);
      say(`${bench.name} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      outcomes.push({ bench, outcome });
      process.stdout.write(`\n${formatText(outcome.table)}\n`);
      for (const t of outcome.targets) process.stdout.write(`  target ${t.met ? 'met' : 'MISSED'}: ${t.goal} — ${t.measured}\n`);
    }
  } finally {
    if (!interrupted) await env.close();
  }
  machine.uptimeAfter = await uptime();
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`\nwhole run: ${seconds.toFixed(0)} s; ${machine.uptimeAfter}\n`);

  if (record) {
    await writeFile(REPORT_PATH, report(machine, env, outcomes, seconds));
    say('wrote docs/BENCHMARKS.md');
  }
}

function report(machine: Machine, env: BenchEnv, outcomes: { bench: Benchmark; outcome: Outcome }[], seconds: number): string {
  const targets = outcomes.flatMap((o) => o.outcome.targets);
  const i = SIZES.interpreter;
  const s = SIZES.sequential40;
  const m = SIZES.mirror;
  const w = env.configFor(env.tuned, 'bench').workflow;
  return `# Benchmarks

Replaced on each run of record: \`${RECORD_COMMAND}\` runs every benchmark and rewrites this file.
\`npm run bench\` prints the same tables without writing; \`npm run bench -- <name>\` runs one
(${BENCHMARKS.map((b) => `\`${b.name}\``).join(', ')}).

Recorded ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine.code}, the whole run taking ${seconds.toFixed(0)} s.

## Machine

| | |
|---|---|
| CPUs | ${machine.cpus} × ${machine.cpuModel} |
| memory | ${machine.memoryGiB.toFixed(1)} GiB |
| Node.js | ${machine.node} |
| Temporal | ${env.temporalVersion.replace(/\n/g, ' ')}, dev server in memory, headless |
| Postgres | ${env.postgres.version} (${env.postgres.embedded ? 'embedded' : 'from DATABASE_URL'}) |
| load before (\`uptime\`) | ${machine.uptimeBefore} |
| load after (\`uptime\`) | ${machine.uptimeAfter ?? ''} |

Everything ran on this one machine: the dev server(s), Postgres, the loopback peers, and one Node.js
process holding both the worker and the client that starts runs. ${busy(machine)}

## Targets

${targets.map((t) => `- **${t.met ? 'met' : 'missed'}**: ${t.goal}. Measured: ${t.measured}.`).join('\n')}

## How it measures

- Every variant runs on the same worker settings (\`createWorker\`, the configuration defaults:
  ${w.maxConcurrentExecutions} concurrent workflow tasks, ${w.queueConcurrency} concurrent activities, sticky cache ${w.enableCaching ? 'on' : 'off'}) and the same workflow
  bundle: \`scripts/bench/workflows.ts\` exports the interpreter and the hand-written baselines.
- The interpreter is started as the product starts it (\`src/executions/start.ts\`): search attributes,
  memo and summary on the start, the mirror row written before; the row is prepared before the clock
  starts. The hand-written workflows are started plainly. Latency is from the start call to the result.
- Variants are measured side by side: after a warm-up, one run at a time in alternating (rotating)
  order for the latency columns; then batches at a fixed concurrency, the variants taking turns batch
  by batch, for throughput (median of the batches). p95 and p99 are nearest-rank, so with few samples
  they are the slowest runs.
- Notification steps deliver for real to loopback peers: an SMTP server (a new connection per
  message, as the product sends) and a Slack Web API stand-in; each run has its own delivery keys
  (\`<workflowId>/<step>\`) in the Postgres delivery ledger. The SMTP peer (\`smtp-server\`) waits a
  fixed 100 ms before greeting each connection, so an email step costs about 105 ms in both variants
  of \`interpreter\` and \`mirror\`: a constant that narrows their latency ratios.
- Where a run's time went comes from the event times in its history (the server's clock): dispatch
  is a task's scheduled → started, for activities and workflow tasks alike; the notes give it for
  the last one-at-a-time run of each variant.
- \`interpreter\` and \`mirror\` run on the tuned server (\`DEV_SERVER_TUNING\`, as \`npm run dev\`
  and the tests run it); \`sequential40\` compares server set-ups.

| benchmark | workload |
|---|---|
| \`interpreter\` | ${i.warmUp} warm-up runs each; ${i.oneAtATime} runs each one at a time; ${i.rounds} batches each of ${i.batch} runs with ${i.concurrency} in flight |
| \`sequential40\` | ${s.warmUp} warm-up run each; ${s.oneAtATime} runs each of ${s.steps} \`http\` GET steps to a loopback server, hand-written and interpreted, on ${s.setups.length} dev servers side by side: ${s.setups.map((k) => `"${SERVER_SETUPS[k].label}" (${SERVER_SETUPS[k].description})`).join('; ')} |
| \`mirror\` | the \`interpreter\` definition on two workers, one whose \`recordRunEvents\` is a no-op; ${m.warmUp} warm-up runs each; ${m.oneAtATime} runs each one at a time; ${m.rounds} batches each of ${m.batch} runs with ${m.concurrency} in flight |

${outcomes
  .map(
    ({ bench, outcome }) => `## ${bench.name}

${capitalize(bench.summary)}. Latency: ${outcome.table.latencyNote}.

${formatMarkdown(outcome.table)}

${outcome.table.notes.map((n) => `- ${n}`).join('\n')}
`,
  )
  .join('\n')}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function busy(machine: Machine): string {
  const before = loadFrom(machine.uptimeBefore);
  if (before === undefined) return '';
  return before >= machine.cpus / 4
    ? `Other work was running when it started (load ${before.toFixed(2)} on ${machine.cpus} CPUs before the benchmark's own processes started), ` +
        'so absolute numbers are pessimistic; the variants were interleaved so that load reached them alike, and the ratios are the figures to compare.'
    : 'The machine was otherwise idle when it started.';
}

function loadFrom(uptimeLine: string): number | undefined {
  const match = uptimeLine.match(/load averages?:\s*([\d.]+)/);
  return match ? Number(match[1]) : undefined;
}

main().catch((err: unknown) => {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
