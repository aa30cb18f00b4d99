/** The `sequential40` benchmark: one run of 40 sequential http steps, on each server set-up, interpreter against hand-written. */
import type { Benchmark } from './benchmarks';
import { type RunningWorker, SERVER_SETUPS } from './env';
import { countHistory, describeHistory, describePhases, oneAtATime, phaseTimes, warmUp } from './measure';
import { median, type Table } from './stats';
import type { SequentialHttpInput } from './workflows';
import { handWrittenVariant, install, interpreterVariant, last, SIZES } from './workload';

export const sequential40: Benchmark = {
  name: 'sequential40',
  summary: 'one run of 40 sequential http steps to a loopback server, wall time start → completion',
  async run(env, say) {
    const size = SIZES.sequential40;
    const url = `${env.api.url}/ping`;
    const def = await install(
      env.db,
      {
        key: 'bench-sequential',
        name: `Benchmark: ${size.steps} sequential http steps`,
        category: 'benchmark',
        steps: Array.from({ length: size.steps }, (_, i) => ({ id: `call${i + 1}`, type: 'http' as const, url: `${url}?step=${i + 1}` })),
      },
      'bench-sequential',
    );
    say(`sequential40: starting dev servers for ${size.setups.filter((s) => s !== 'tuned').join(', ')}`);
    const extra = await Promise.allSettled(size.setups.filter((s) => s !== 'tuned').map((s) => env.startServer(s)));
    const servers = extra.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const workers: RunningWorker[] = [];
    try {
      const failed = extra.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      for (const target of [env.tuned, ...servers]) workers.push(await env.startWorker({ target, taskQueue: 'bench-sequential' }));

      const args = (worker: RunningWorker) => (): SequentialHttpInput => ({
        url,
        steps: size.steps,
        defaultStepTimeoutSeconds: worker.config.workflow.defaultTimeoutSeconds,
      });
      const variants = workers.flatMap((w) => {
        const label = SERVER_SETUPS[w.target.setup].label;
        return [
          { worker: w, variant: handWrittenVariant(`hand-written, ${label}`, w, 'handWrittenSequentialHttp', args(w)) },
          { worker: w, variant: interpreterVariant(`interpreter, ${label}`, w, env.db, def, () => ({})) },
        ];
      });
      const requestsBefore = env.api.requests.length;
      say(`sequential40: warming up (${size.warmUp} run each)`);
      await warmUp(variants.map((v) => v.variant), size.warmUp);
      say(`sequential40: ${size.oneAtATime} runs each, one at a time, the ${variants.length} variants in rotating order`);
      const single = await oneAtATime(variants.map((v) => v.variant), size.oneAtATime);
      const expected = variants.length * (size.warmUp + size.oneAtATime) * size.steps;
      const requests = env.api.requests.length - requestsBefore;
      if (requests !== expected) throw new Error(`expected ${expected} requests at the HTTP peer, found ${requests}`);

      const lastOf = ({ worker, variant }: (typeof variants)[number]) => ({ client: worker.target.client, id: last(single.get(variant.name)) });
      const histories = await Promise.all(variants.map((v) => countHistory(lastOf(v).client, lastOf(v).id)));
      const phases = await Promise.all(variants.map((v) => phaseTimes(lastOf(v).client, lastOf(v).id)));
      const partitions = await Promise.all(
        workers.map(async (w) => {
          const res = await w.target.connection.workflowService.listTaskQueuePartitions({
            namespace: 'default',
            taskQueue: { name: w.taskQueue },
          });
          return `${SERVER_SETUPS[w.target.setup].label}: ${res.workflowTaskQueuePartitions?.length ?? 0} workflow / ${res.activityTaskQueuePartitions?.length ?? 0} activity`;
        }),
      );
      const rows = variants.map(({ variant }, i) => {
        const samples = single.get(variant.name)!.map((r) => r.ms);
        const total = samples.reduce((a, b) => a + b, 0) / 1000;
        const isHand = i % 2 === 0;
        return {
          variant: variant.name,
          samples,
          throughput: (samples.length * size.steps) / total,
          events: histories[i]!.total,
          // Interpreter rows against hand-written on the same server; hand-written rows against hand-written on the tuned one.
          baseline: i === 0 ? undefined : isHand ? variants[0]!.variant.name : variants[i - 1]!.variant.name,
        };
      });
      // Variants come in pairs per server: hand-written (even index), then the interpreter.
      const setupOf = (i: number) => SERVER_SETUPS[variants[i]!.worker.target.setup];
      const untuned = rows.flatMap((row, i) => (i % 2 === 0 && !setupOf(i).judged ? [`${median(row.samples).toFixed(0)} ms on "${setupOf(i).label}"`] : []));
      const table: Table = {
        title: `sequential40 — ${sequential40.summary}`,
        latencyNote: 'start → result of the whole run, one run at a time (the variants rotating)',
        throughputUnit: 'steps/s',
        rows,
        notes: [
          'ratios: each interpreter row against the hand-written row on the same server; each hand-written row against hand-written on the tuned server (DEV_SERVER_TUNING)',
          `targets: the servers the product runs (${workers
            .filter((w) => SERVER_SETUPS[w.target.setup].judged)
            .map((w) => `"${SERVER_SETUPS[w.target.setup].label}"`)
            .join(', ')}); the other set-ups are comparisons, not targets. Hand-written on the untuned server: ` +
            `${untuned.join(', ')}, against the 3.06 s published for Temporal on this shape`,
          ...workers.map((w) => `server "${SERVER_SETUPS[w.target.setup].label}": ${SERVER_SETUPS[w.target.setup].description}`),
          `task-queue partitions the servers report — ${partitions.join('; ')}`,
          `history, hand-written: ${describeHistory(histories[0]!)}`,
          `history, interpreter: ${describeHistory(histories[1]!)}`,
          ...variants.map((v, i) => `last run, ${v.variant.name}: ${describePhases(phases[i]!)}`),
          ...variants
            .filter((_, i) => i % 2 === 0)
            .map((v) => {
              const p = phases[variants.indexOf(v)]!;
              const h = histories[variants.indexOf(v)]!;
              const tasks = (h.byType.ACTIVITY_TASK_SCHEDULED ?? 0) + (h.byType.WORKFLOW_TASK_COMPLETED ?? 0);
              const dispatch = p.activityDispatch + p.workflowTaskDispatch;
              return (
                `dispatch on "${SERVER_SETUPS[v.worker.target.setup].label}": ${(dispatch / Math.max(1, tasks)).toFixed(1)} ms per task ` +
                `(${tasks} tasks), ${((100 * dispatch) / Math.max(1, p.total)).toFixed(0)}% of the hand-written run`
              );
            }),
        ],
      };
      const targets = rows
        .map((row, i) => ({ row, i }))
        .filter(({ i }) => i % 2 === 1 && setupOf(i).judged)
        .map(({ row, i }) => ({
          goal: `${size.steps} sequential steps in ≤ 1.2 s (${row.variant})`,
          met: median(row.samples) <= 1200,
          measured: `median ${median(row.samples).toFixed(0)} ms; hand-written on the same server ${median(rows[i - 1]!.samples).toFixed(0)} ms`,
        }));
      return { table, targets };
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(servers.map((s) => s.close()));
      env.clearSinks();
    }
  },
};
