/** The `mirror` benchmark: the five-step definition with the Postgres mirror on against a no-op write, and the mirror's lag. */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { findExecution } from '../../db/executions';
import type { Database } from '../../db/schema';
import type { Benchmark } from './benchmarks';
import { countHistory, describeCpu } from './measure';
import { fromRounds, median, PAIRED_NOTE, quantile, type Row, type Table, throughputRatio } from './stats';
import { install, interpreterVariant, last, ORDER_SHIPPED, orderTrigger, SIZES, sideBySide, startWorkerPair } from './workload';

export const mirror: Benchmark = {
  name: 'mirror',
  summary: 'the 5-step definition through the generic workflow with the Postgres mirror on vs a no-op recordRunEvents',
  async run(env, say) {
    const size = SIZES.mirror;
    const def = await install(env.db, ORDER_SHIPPED, 'bench-mirror');
    const [on, off] = await startWorkerPair(env, 'bench-mirror');
    try {
      const withMirror = interpreterVariant('mirror on', on, env.db, def, orderTrigger);
      const without = interpreterVariant('mirror off', off, env.db, def, orderTrigger);
      const variants = [without, withMirror];
      const { single, batched } = await sideBySide('mirror', variants, size, say);

      // The mirror really was written with it on, and not with it off.
      const executionId = (workflowId: string) => workflowId.slice('bench-mirror-'.length);
      const [onRow, offRow] = await Promise.all([
        findExecution(env.db, executionId(last(single.get(withMirror.name)))),
        findExecution(env.db, executionId(last(single.get(without.name)))),
      ]);
      if (onRow?.status !== 'SUCCESS' || offRow?.status !== 'PENDING') {
        throw new Error(`mirror rows are not as expected: on → ${onRow?.status}, off → ${offRow?.status}`);
      }
      const [onHistory, offHistory] = await Promise.all([
        countHistory(on.target.client, last(single.get(withMirror.name))),
        countHistory(off.target.client, last(single.get(without.name))),
      ]);
      const lags = await mirrorLags(env.db, on.target.client, batched.get(withMirror.name)!.runs.map((r) => r.workflowId));
      const lagP99 = quantile(lags, 0.99);
      const table: Table = {
        title: `mirror — ${mirror.summary}`,
        latencyNote: 'start → result, one run at a time (the variants alternating)',
        throughputUnit: `runs/s @${size.concurrency}`,
        rows: [
          { variant: 'mirror off', samples: single.get(without.name)!.map((r) => r.ms), ...fromRounds(batched.get(without.name)!), events: offHistory.total },
          {
            variant: 'mirror on',
            samples: single.get(withMirror.name)!.map((r) => r.ms),
            ...fromRounds(batched.get(withMirror.name)!),
            events: onHistory.total,
            baseline: 'mirror off',
          },
        ],
        notes: [
          `throughput: median of ${size.rounds} batches of ${size.batch} runs with ${size.concurrency} in flight; ${PAIRED_NOTE}; ` +
            `batch rates off ${batched.get(without.name)!.rates.map((r) => r.toFixed(1)).join(', ')}; on ${batched.get(withMirror.name)!.rates.map((r) => r.toFixed(1)).join(', ')}`,
          describeCpu(batched, [without.name, withMirror.name]),
          `both workers run the same interpreter; "off" replaces only the recordRunEvents activity with a no-op, which the worker's final write (the mirror sink) calls too, so the histories are the same`,
          `mirror lag, the ${lags.length} runs of the "on" batches: the row's final write (its updated_at, Postgres's clock) minus the run's close time ` +
            `(Temporal's clock; one machine, one clock): median ${median(lags).toFixed(1)} ms, p99 ${lagP99.toFixed(1)} ms, ` +
            `${lags.filter((l) => l <= 0).length} of ${lags.length} final before Temporal closed the run (the workflow writes its final status, ` +
            'then completes; a run closed from outside waits for the reconciler instead)',
        ],
      };
      const [offThroughput, onThroughput] = table.rows as [Row, Row];
      const ratio = throughputRatio(onThroughput, offThroughput);
      return {
        table,
        targets: [
          {
            goal: 'mirror on: throughput at least 90% of mirror off (10 in flight)',
            met: ratio >= 0.9,
            measured: `×${ratio.toFixed(3)} (${onThroughput.throughput.toFixed(1)} vs ${offThroughput.throughput.toFixed(1)} runs/s)`,
          },
          { goal: 'mirror lag p99 under 250 ms under that load', met: lagP99 < 250, measured: `p99 ${lagP99.toFixed(1)} ms over ${lags.length} runs` },
        ],
      };
    } finally {
      await Promise.all([on.stop(), off.stop()]);
      env.clearSinks();
    }
  },
};

/**
 * Per run: when its mirror row became final (updated_at of the final write)
 * minus when Temporal closed the run, in milliseconds; negative when the row
 * was final first.
 */
async function mirrorLags(db: Kysely<Database>, client: Client, workflowIds: string[]): Promise<number[]> {
  const rows = await db
    .selectFrom('workflow_executions')
    .select(['workflow_id', 'status', 'updated_at'])
    .where('workflow_id', 'in', workflowIds)
    .execute();
  const lags: number[] = [];
  for (const row of rows) {
    const closed = (await client.workflow.getHandle(row.workflow_id).describe()).closeTime;
    if (row.status !== 'SUCCESS' || !closed) throw new Error(`run ${row.workflow_id} is not finished in the mirror (${row.status}) or in Temporal`);
    lags.push(row.updated_at.getTime() - closed.getTime());
  }
  if (lags.length !== workflowIds.length) throw new Error(`${workflowIds.length - lags.length} runs have no mirror row`);
  return lags;
}
