/** The `encryption` benchmark: product runs with payload encryption on against off, and the codec's own cost. */
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { EncryptionCodec, encryptionKeys } from '../../src/temporal/encryption';
import type { Benchmark } from './benchmarks';
import { countHistory, describeCpu, describeHistory } from './measure';
import { median, PAIRED_NOTE, throughputRatio } from './stats';
import { install, interpreterVariant, last, ORDER_SHIPPED, orderTrigger, SIZES, sideBySide } from './workload';

/** A fixed AES-256 key for the benchmark's encrypting worker (its payloads live and die with the run). */
const BENCH_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export const encryption: Benchmark = {
  name: 'encryption',
  summary: 'the 5-step definition through the interpreter with payload encryption (AES-256-GCM codec) on against off',
  async run(env, say) {
    const size = SIZES.encryption;
    const def = await install(env.db, ORDER_SHIPPED, 'bench-order-shipped');
    const [plain, sealed] = await Promise.all([
      env.startWorker({ target: env.tuned, taskQueue: 'bench-encryption-off' }),
      env.startWorker({ target: env.tuned, taskQueue: 'bench-encryption-on', extra: { ENCRYPTION_KEYS: `bench:${BENCH_ENCRYPTION_KEY}` } }),
    ]);
    try {
      const off = interpreterVariant('encryption off', plain, env.db, def, orderTrigger);
      const on = interpreterVariant('encryption on', sealed, env.db, def, orderTrigger);
      const variants = [off, on];
      const { single, batched, row } = await sideBySide('encryption', variants, size, say);
      const [offHistory, onHistory] = await Promise.all([
        countHistory(plain.target.client, last(single.get(off.name))),
        countHistory(sealed.target.client, last(single.get(on.name))),
      ]);
      const rows = [row(off, offHistory.total), row(on, onHistory.total, off.name)] as const;
      const ratio = throughputRatio(rows[1], rows[0]);
      const latency = median(rows[1].samples) / median(rows[0].samples);
      const steps = ORDER_SHIPPED.steps.length;
      const codecCost = await timeCodec(plain.target.client, last(single.get(off.name)));
      return {
        table: {
          title: `encryption — ${encryption.summary}`,
          latencyNote: 'start → result, one run at a time (the variants alternating)',
          throughputUnit: `runs/s @${size.concurrency}`,
          rows: [...rows],
          notes: [
            'both rows are product runs (search attributes, memo, the mirror written) on workers of their own; "encryption on" seals every payload ' +
              'the client and worker send (inputs, results, activity arguments and results, the mirror sink is outside history) with AES-256-GCM and opens what they receive',
            `the codec's own work, timed apart: sealing and opening the payloads of one run's history (its input, result and activity arguments and results: ${codecCost.payloads} payloads, ${codecCost.bytes} bytes) ` +
              `takes ${codecCost.microsPerRun.toFixed(0)} µs of CPU, ${(codecCost.microsPerRun / steps).toFixed(0)} µs per step (${steps} steps; median of ${codecCost.rounds} rounds) — ` +
              `far below what the runs' timings can tell apart (median latency ×${latency.toFixed(3)})`,
            `throughput: median of ${size.rounds} batches of ${size.batch} runs with ${size.concurrency} in flight; ${PAIRED_NOTE}; ` +
              `batch rates ${variants.map((v) => `${v.name} ${batched.get(v.name)!.rates.map((r) => r.toFixed(1)).join(', ')}`).join('; ')}`,
            describeCpu(batched, [off.name, on.name]),
            `history, encryption on: ${describeHistory(onHistory)}`,
          ],
        },
        targets: [
          {
            goal: 'payload encryption costs at most 5% of throughput (at least ×0.95 of encryption off)',
            met: ratio >= 0.95,
            measured: `throughput ×${ratio.toFixed(3)} (${rows[1].throughput.toFixed(1)} vs ${rows[0].throughput.toFixed(1)} runs/s), median latency ×${latency.toFixed(3)}`,
          },
        ],
      };
    } finally {
      await Promise.all([plain.stop(), sealed.stop()]);
      env.clearSinks();
    }
  },
};

/** Seals and opens, with the product's codec, the payload lists of a run's (unencrypted) history: the codec's CPU per run. */
async function timeCodec(client: Client, workflowId: string): Promise<{ payloads: number; bytes: number; microsPerRun: number; rounds: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payloads: Payload[] = [];
  const collect = (value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach(collect);
    const v = value as { payloads?: unknown; data?: unknown; metadata?: unknown };
    if (Array.isArray(v.payloads)) payloads.push(...(v.payloads as Payload[]));
    else for (const inner of Object.values(value)) collect(inner);
  };
  collect(history.events);
  const codec = new EncryptionCodec(encryptionKeys({ keys: { bench: BENCH_ENCRYPTION_KEY }, currentKeyId: 'bench' }));
  const rounds = 200;
  const samples: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const t0 = performance.now();
    await codec.decode(await codec.encode(payloads));
    samples.push((performance.now() - t0) * 1000);
  }
  return { payloads: payloads.length, bytes: payloads.reduce((n, p) => n + (p.data?.length ?? 0), 0), microsPerRun: median(samples), rounds };
}
