/**
 * `npm run bench`: the benchmarks, on a Temporal dev server and a Postgres
 * this script starts, printing one table per benchmark.
 *
 *   npm run bench                          every benchmark
 *   npm run bench -- interpreter           one (or several) by name
 *   npm run bench -- --record              every benchmark, then rewrites docs/BENCHMARKS.md
 *   npm run bench -- gateway --record      those benchmarks, then replaces their sections of
 *                                          docs/BENCHMARKS.md, keeping the others' as recorded
 *   npm run bench -- mirror-scale --scale 0.1   a tenth of the generated data, for a quick run
 *   npm run bench -- gateway-load --scale 0.1   1,000 runs between its two phases instead of 10,000
 *   npm run bench -- gateway-load --scale 10    100,000 (about 41 minutes in all on 2 cores)
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { BENCHMARKS, type Benchmark, type Outcome, type RunOptions } from './benchmarks';
import { SIZES } from './workload';
import { type BenchEnv, SERVER_SETUPS, startBenchEnv } from './env';
import { formatMarkdown, formatText } from './stats';
import { compileProduct } from '../lib/compile';

const execFileAsync = promisify(execFile);
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const REPORT_PATH = new URL('../../docs/BENCHMARKS.md', import.meta.url);
const RECORD_COMMAND = 'npm run bench -- --record';

/** A target line of the record names its benchmark, so a partial record can keep the others' lines. */
const TARGET_LINE = /^- \*\*(?:met|missed)\*\* \(`([\w-]+)`\)/;

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

/** The benchmarks `--scale` may enlarge, and how far: `gateway-load`'s 10,000 runs between phases become 100,000. */
const SCALES_UP = new Set(['gateway-load', 'gateway-load-cluster']);
const MAX_SCALE = 10;

function parseArgs(argv: string[]): { names: string[]; record: boolean; options: RunOptions } {
  const names: string[] = [];
  let record = false;
  const options: RunOptions = { scale: 1 };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--record') record = true;
    else if (arg === '--scale' || arg.startsWith('--scale=')) {
      const value = arg === '--scale' ? argv[(i += 1)] : arg.slice('--scale='.length);
      const scale = Number(value);
      if (!(scale > 0 && scale <= MAX_SCALE)) throw new Error(`--scale takes a number in (0, ${MAX_SCALE}], not ${value}`);
      options.scale = scale;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        `usage: npm run bench [-- <name>…] [--record] [--scale <fraction>]\n\n` +
          `  --record   write the results to docs/BENCHMARKS.md (with names: replace only their sections)\n` +
          `  --scale    fraction of the data mirror-scale generates (default 1: a million executions)\n` +
          `             and of the runs gateway-load makes between its phases (default 1: 10,000;\n` +
          `             up to 10 for gateway-load and gateway-load-cluster alone: 100,000)\n\n` +
          `benchmarks:\n${BENCHMARKS.map((b) => `  ${b.name.padEnd(14)} ${b.summary}`).join('\n')}\n`,
      );
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg} (try --help)`);
    else names.push(arg);
  }
  const known = new Set(BENCHMARKS.map((b) => b.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(', ')}; there are ${[...known].join(', ')}`);
  if (options.scale > 1 && (names.length === 0 || names.some((n) => !SCALES_UP.has(n)))) {
    throw new Error(`--scale above 1 is for ${[...SCALES_UP].join(' and ')} alone (more runs between their phases)`);
  }
  return { names, record, options };
}

async function main(): Promise<void> {
  const { names, record, options } = parseArgs(process.argv.slice(2));
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

  // The product's processes run compiled, as they do in production.
  await compileProduct(say);
  const started = Date.now();
  // Ctrl-C once the environment is up stops what it started (the dev servers run in their own process group).
  const running: { env?: BenchEnv } = {};
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('interrupted: stopping what was started');
    void (running.env?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });

  const outcomes: Recorded[] = [];
  const env = await startBenchEnv(say);
  running.env = env;
  try {
    for (const bench of selected) {
      if (interrupted) return;
      const t0 = Date.now();
      const loadBefore = await uptime();
      const outcome = await bench.run(env, say, options);
      const seconds = (Date.now() - t0) / 1000;
      say(`${bench.name} took ${seconds.toFixed(0)} s`);
      outcomes.push({ bench, outcome, seconds, loadBefore, loadAfter: await uptime() });
      process.stdout.write(`\n${formatText(outcome.table)}\n`);
      if (outcome.details) process.stdout.write('  (query plans and other details go to the record: --record)\n');
      for (const t of outcome.targets) process.stdout.write(`  target ${t.met ? 'met' : 'MISSED'}: ${t.goal} — ${t.measured}\n`);
    }
  } finally {
    if (!interrupted) await env.close();
  }
  machine.uptimeAfter = await uptime();
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`\nwhole run: ${seconds.toFixed(0)} s; ${machine.uptimeAfter}\n`);

  if (record) {
    const partial = outcomes.length < BENCHMARKS.length;
    const previous = partial ? await readFile(REPORT_PATH, 'utf8').catch(() => '') : '';
    await writeFile(REPORT_PATH, report(machine, env, outcomes, seconds, options, { previous, invocation: recordInvocation(names, options) }));
    say(partial ? `replaced the sections of ${outcomes.map((o) => o.bench.name).join(', ')} in docs/BENCHMARKS.md` : 'wrote docs/BENCHMARKS.md');
  }
}

interface Recorded {
  bench: Benchmark;
  outcome: Outcome;
  seconds: number;
  loadBefore: string;
  loadAfter: string;
}

function recordInvocation(names: string[], options: RunOptions): string {
  return ['npm run bench --', ...names, '--record', ...(options.scale === 1 ? [] : ['--scale', String(options.scale)])].join(' ');
}

/** The sections (`## name` … up to the next `## `) of an earlier record, by benchmark name, and its target lines. */
function earlierRecord(text: string): { sections: Map<string, string>; targets: { name: string; line: string }[] } {
  const sections = new Map<string, string>();
  const known = new Set(BENCHMARKS.map((b) => b.name));
  for (const part of text.split(/^(?=## )/m)) {
    const name = /^## (\S+)\s*\n/.exec(part)?.[1];
    if (name && known.has(name)) sections.set(name, part.trimEnd());
  }
  const targetsPart = text.split(/^(?=## )/m).find((p) => p.startsWith('## Targets')) ?? '';
  const targets = targetsPart
    .split('\n')
    .map((line) => ({ name: TARGET_LINE.exec(line)?.[1], line }))
    .filter((t): t is { name: string; line: string } => t.name !== undefined);
  return { sections, targets };
}

function section({ bench, outcome, seconds, loadBefore, loadAfter }: Recorded, machine: Machine, invocation: string): string {
  return `## ${bench.name}

${capitalize(bench.summary)}.${outcome.table.counts ? '' : ` Latency: ${outcome.table.latencyNote}.`}

Recorded ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${invocation}\` on ${machine.code}, this benchmark taking ${seconds.toFixed(0)} s.
Load before: \`${loadBefore}\`; after: \`${loadAfter}\`. ${busy(loadBefore, machine.cpus, outcome.table.counts !== undefined)}

${formatMarkdown(outcome.table)}

${outcome.table.notes.map((n) => `- ${n}`).join('\n')}
${outcome.details ? `\n${outcome.details.trimEnd()}\n` : ''}`.trimEnd();
}

function report(
  machine: Machine,
  env: BenchEnv,
  outcomes: Recorded[],
  seconds: number,
  options: RunOptions,
  { previous, invocation }: { previous: string; invocation: string },
): string {
  const earlier = earlierRecord(previous);
  const ran = new Set(outcomes.map((o) => o.bench.name));
  const targets = BENCHMARKS.flatMap((b) =>
    ran.has(b.name)
      ? outcomes
          .find((o) => o.bench.name === b.name)!
          .outcome.targets.map((t) => `- **${t.met ? 'met' : 'missed'}** (\`${b.name}\`): ${t.goal}. Measured: ${t.measured}.`)
      : earlier.targets.filter((t) => t.name === b.name).map((t) => t.line),
  );
  const sections = BENCHMARKS.flatMap((b) => {
    const fresh = outcomes.find((o) => o.bench.name === b.name);
    if (fresh) return [section(fresh, machine, invocation)];
    const kept = earlier.sections.get(b.name);
    return kept ? [kept] : [];
  });
  const i = SIZES.interpreter;
  const s = SIZES.sequential40;
  const m = SIZES.mirror;
  const w = env.configFor(env.tuned, 'bench').workflow;
  const partial = outcomes.length < BENCHMARKS.length;
  return `# Benchmarks

\`${RECORD_COMMAND}\` runs every benchmark and rewrites this file; \`npm run bench -- <name>… --record\`
runs those and replaces their sections and targets, keeping the others as they were recorded.
\`npm run bench\` prints the same tables without writing; \`npm run bench -- <name>\` runs one
(${BENCHMARKS.map((b) => `\`${b.name}\``).join(', ')}); \`--scale <fraction>\` makes \`mirror-scale\` generate that
fraction of its data, and \`gateway-load\` that fraction of its 10,000 runs between phases, for a quick run
(for \`gateway-load\` and \`gateway-load-cluster\` alone, up to 10: \`--scale 10\` measures again after 100,000 runs).
\`gateway-load\` also reads \`BENCH_WAIT\` (\`api\`: the product's runs awaited with \`?wait=30s\` through the gateway; \`poll\`: read every 500 ms),
\`BENCH_VARIANTS\` (\`product,hand-written\` alternates those two alone) and \`BENCH_PROFILE_DIR\` (CPU profiles of its processes).

Last written ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${invocation}\` (${outcomes.map((o) => `\`${o.bench.name}\``).join(', ')}, ${seconds.toFixed(0)} s in all)${partial ? '; the other sections are from earlier records, each saying when it was made' : ''}.

## Machine

| | |
|---|---|
| CPUs | ${machine.cpus} × ${machine.cpuModel} |
| memory | ${machine.memoryGiB.toFixed(1)} GiB |
| Node.js | ${machine.node} |
| Temporal | ${env.temporalVersion.replace(/\n/g, ' ')}, dev server in memory, headless |
| Postgres | ${env.postgres.version} (${env.postgres.embedded ? 'embedded' : 'from DATABASE_URL'}) |

Everything ran on this one machine: the dev server(s), Postgres, the loopback peers, and one Node.js
process holding the worker, the client that starts runs and (for \`gateway\`) the HTTP servers; the
load generator of \`gateway\` is a child process. The machine is shared with other work (test runs,
builds), so absolute numbers drift from run to run; each section gives the load it ran under, and the
ratios, measured side by side in one run, are the figures to compare.

## Targets

${targets.join('\n')}

## How it measures

- Every variant runs on the same worker settings (\`createWorker\`, the configuration defaults:
  ${w.maxConcurrentExecutions} concurrent workflow tasks, ${w.queueConcurrency} concurrent activities, sticky cache ${w.enableCaching ? 'on' : 'off'}) and the same workflow
  bundle: \`scripts/bench/workflows.ts\` exports the interpreter and the hand-written baselines.
- The interpreter is started as the product starts it (\`src/executions/start.ts\`): search attributes,
  memo and summary on the start, the mirror row written before; the row is prepared before the clock
  starts. The hand-written workflows are started plainly, and in \`interpreter\` also with the
  interpreter's labels. Latency is from the start call to the result.
- Each comparison isolates one cost. \`interpreter\` judges the interpreter itself: run with the
  mirror's write a no-op, against the hand-written workflow started with the same labels; the
  mirror's cost is \`mirror\`'s target, and a product run against the plain hand-written workflow,
  all costs together, is a row of its own.
- Variants are measured side by side: after a warm-up, one run at a time in alternating (rotating)
  order for the latency columns; then batches at a fixed concurrency, the variants taking turns batch
  by batch, for throughput (median of the batches). A throughput ratio is the median of the batches'
  own ratios, each variant's batch against its baseline's in the same round, so that load drifting
  over the minutes of a run reaches both sides of each ratio alike. p95 and p99 are nearest-rank, so
  with few samples they are the slowest runs.
- Notification steps deliver for real to loopback peers: an SMTP server (a new connection per
  message, as the product sends) and a Slack Web API stand-in; each run has its own delivery keys
  (\`<workflowId>/<step>\`) in the Postgres delivery ledger. The SMTP peer (\`smtp-server\`) waits a
  fixed 100 ms before greeting each connection, so an email step costs about 105 ms in both variants
  of \`interpreter\` and \`mirror\`: a constant that narrows their latency ratios.
- Where a run's time went comes from the event times in its history (the server's clock): dispatch
  is a task's scheduled → started, for activities and workflow tasks alike; the notes give it for
  the last one-at-a-time run of each variant.
- \`interpreter\`, \`mirror\` and \`scale\` run on the tuned server (\`DEV_SERVER_TUNING\`, as \`npm run dev\`
  and the tests run it); \`sequential40\` compares server set-ups.
- \`gateway\`, \`expressions\` and \`mirror-scale\` do not run workflows; how each measures is in the
  notes under its table.

| benchmark | workload |
|---|---|
| \`interpreter\` | ${i.warmUp} warm-up runs each; ${i.oneAtATime} runs each one at a time; ${i.rounds} batches each of ${i.batch} runs with ${i.concurrency} in flight |
| \`sequential40\` | ${s.warmUp} warm-up run each; ${s.oneAtATime} runs each of ${s.steps} \`http\` GET steps to a loopback server, hand-written and interpreted, on ${s.setups.length} dev servers side by side: ${s.setups.map((k) => `"${SERVER_SETUPS[k].label}" (${SERVER_SETUPS[k].description})`).join('; ')} |
| \`mirror\` | the \`interpreter\` definition on two workers, one whose \`recordRunEvents\` is a no-op; ${m.warmUp} warm-up runs each; ${m.oneAtATime} runs each one at a time; ${m.rounds} batches each of ${m.batch} runs with ${m.concurrency} in flight |
${BENCHMARKS.filter((b) => b.workload)
  .map((b) => `| \`${b.name}\` | ${b.workload!(options)} |`)
  .join('\n')}

${sections.join('\n\n')}
`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function busy(uptimeBefore: string, cpus: number, counts = false): string {
  const before = loadFrom(uptimeBefore);
  if (before === undefined) return '';
  return before >= cpus / 4
    ? `Other work was running (load ${before.toFixed(2)} on ${cpus} CPUs as it started), ` +
        (counts
          ? 'so its times are pessimistic; the counts do not depend on it.'
          : 'so absolute numbers are pessimistic; the variants were interleaved so that load reached them alike, and the ratios are the figures to compare.')
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
