/**
 * `expressions`: what a step pays for its condition and `{{ }}` templates
 * (src/shared/expressions.ts, as the interpreter calls it: a fresh scope per
 * evaluation) against plain JavaScript computing the same values, and the
 * compiled-expression cache against compiling on every evaluation. Pure CPU,
 * in the bench process; no server is involved.
 */
import { performance } from 'node:perf_hooks';
import {
  compileExpression,
  evaluateExpression,
  type ExpressionScope,
  isTruthy,
  renderDeep,
  toPlainData,
} from '../../src/shared/expressions';
import type { Benchmark } from './benchmarks';
import { rotate } from './measure';
import { fromRounds, median, PAIRED_NOTE, type Row, type Table } from './stats';

/** Workload of the default run. */
export const EXPRESSION_SIZES = { warmUpMs: 300, rounds: 40, batchMs: 25 } as const;

/** What the interpreter's scope holds at the email step of the 5-step definition of `interpreter`. */
function scopeAtEmailStep(): ExpressionScope {
  return {
    input: { orderId: 'A-1042', customer: { name: 'Ada', email: 'ada@example.test' }, total: 180, channel: '#orders' },
    vars: { who: 'Ada', total: 180, tier: 'vip' },
    steps: {
      greeting: { output: { who: 'Ada', total: 180 }, status: 'SUCCESS' },
      bigOrder: { output: { matched: true, branch: 'then' }, status: 'SUCCESS' },
      vip: { output: { tier: 'vip' }, status: 'SUCCESS' },
    },
    env: {},
    run: {
      executionId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
      workflowId: 'bench-order-shipped-6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
      runId: '0193f0aa-1111-7222-8333-944455556666',
      startedAt: '2026-11-25T09:00:00.000Z',
      attempt: 1,
      definition: { id: '11111111-2222-4333-8444-555555555555', key: 'bench-order-shipped', name: 'Benchmark: order shipped', version: 3 },
    },
  };
}

const CONDITION = 'vars.total > 100';
const EMAIL_FIELDS = {
  to: '{{ input.customer.email }}',
  subject: 'Order {{ input.orderId }} shipped',
  text: 'Hello {{ vars.who }}, total {{ vars.total }} ({{ vars.tier }}).',
};

interface Op {
  name: string;
  baseline?: string;
  /** One evaluation; its result goes to a sink so that nothing is optimized away. */
  run(): unknown;
}

let unique = 0;
/** The same expression text made new each time by a comment, so the cache never holds it. */
const fresh = (source: string) => {
  unique += 1;
  return `${source} /* ${unique} */`;
};

function operations(): Op[] {
  // The interpreter builds a new scope object for every evaluation (workflows/run/scope.ts `scope()`).
  const scope = scopeAtEmailStep;
  const plainCondition = () => {
    const s = scope();
    return (s.vars.total as number) > 100;
  };
  const plainEmail = () => {
    const s = scope();
    const input = s.input as { orderId: string; customer: { email: string } };
    return {
      to: input.customer.email,
      subject: `Order ${input.orderId} shipped`,
      text: `Hello ${String(s.vars.who)}, total ${String(s.vars.total)} (${String(s.vars.tier)}).`,
    };
  };
  const compiledCondition = compileExpression(CONDITION);
  const prepared = toPlainData(scopeAtEmailStep());
  return [
    { name: 'condition: plain JS', run: plainCondition },
    {
      name: 'condition: evaluateExpression, cached',
      baseline: 'condition: plain JS',
      run: async () => isTruthy(await evaluateExpression(CONDITION, scope())),
    },
    {
      name: 'condition: evaluateExpression, compared without JSONata',
      baseline: 'condition: evaluateExpression, cached',
      // As V2 runs evaluate it: a plain path compared with a literal (compareWithLiteral).
      run: async () => isTruthy(await evaluateExpression(CONDITION, scope(), { fastPaths: true, fastComparisons: true })),
    },
    {
      name: 'condition: JSONata evaluate alone',
      baseline: 'condition: plain JS',
      // The compiled expression on a scope copied once: what the guards and the per-evaluation copy cost is the gap to the row above.
      run: async () => isTruthy(await compiledCondition.evaluate(prepared)),
    },
    {
      name: 'condition: evaluateExpression, compiled each time',
      baseline: 'condition: evaluateExpression, cached',
      run: async () => isTruthy(await evaluateExpression(fresh(CONDITION), scope())),
    },
    { name: 'email fields: plain JS', run: plainEmail },
    {
      name: 'email fields: renderDeep, cached',
      baseline: 'email fields: plain JS',
      run: () => renderDeep(EMAIL_FIELDS, scope()),
    },
    {
      name: 'email fields: renderDeep, plain paths',
      baseline: 'email fields: renderDeep, cached',
      // As V2 runs (and V1 runs under the lean-runs patch) evaluate them: every placeholder here is a plain path.
      run: () => renderDeep(EMAIL_FIELDS, scope(), { fastPaths: true }),
    },
    {
      name: 'email fields: renderDeep, compiled each time',
      baseline: 'email fields: renderDeep, cached',
      run: () =>
        renderDeep(
          {
            to: `{{ ${fresh('input.customer.email')} }}`,
            subject: `Order {{ ${fresh('input.orderId')} }} shipped`,
            text: `Hello {{ ${fresh('vars.who')} }}, total {{ ${fresh('vars.total')} }} ({{ ${fresh('vars.tier')} }}).`,
          },
          scope(),
        ),
    },
  ];
}

let sink = 0;
const consume = (value: unknown) => {
  sink += value === undefined ? 0 : 1;
};

/** Runs `op` `count` times; answers the seconds taken. */
async function batch(op: Op, count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1) {
    const r = op.run();
    consume(r instanceof Promise ? await r : r);
  }
  return (performance.now() - t0) / 1000;
}

/** Evaluations that fill about `ms` milliseconds, from a first timed run of the operation. */
async function calibrate(op: Op, ms: number): Promise<number> {
  let count = 100;
  for (;;) {
    const seconds = await batch(op, count);
    if (seconds * 1000 >= ms) return Math.max(1, Math.round((count * ms) / (seconds * 1000)));
    count *= 4;
  }
}

export const expressions: Benchmark = {
  name: 'expressions',
  summary: 'a condition and an email step\'s {{ }} templates through src/shared/expressions.ts vs plain JavaScript, plain paths read without JSONata, and the compiled-expression cache vs compiling each time',
  workload: () => {
    const s = EXPRESSION_SIZES;
    return `each operation calibrated to batches of about ${s.batchMs} ms after ${s.warmUpMs} ms of warm-up; ${s.rounds} batches each, the operations taking turns batch by batch; in the bench process, no I/O`;
  },
  async run(_env, say) {
    const size = EXPRESSION_SIZES;
    const ops = operations();
    say(`expressions: warming up and calibrating ${ops.length} operations`);
    const counts = new Map<string, number>();
    for (const op of ops) {
      await calibrate(op, size.warmUpMs);
      counts.set(op.name, await calibrate(op, size.batchMs));
    }
    say(`expressions: ${size.rounds} batches each, taking turns`);
    const perOp = new Map<string, number[]>(ops.map((op) => [op.name, []]));
    const rates = new Map<string, number[]>(ops.map((op) => [op.name, []]));
    for (let round = 0; round < size.rounds; round += 1) {
      for (const op of rotate(ops, round)) {
        const count = counts.get(op.name)!;
        const seconds = await batch(op, count);
        perOp.get(op.name)!.push((seconds * 1e6) / count);
        rates.get(op.name)!.push(count / seconds);
      }
    }
    if (sink === 0) throw new Error('no evaluation produced a value');

    const rows: Row[] = ops.map((op) => ({ variant: op.name, samples: perOp.get(op.name)!, ...fromRounds({ rates: rates.get(op.name)! }), baseline: op.baseline }));
    const us = (name: string) => median(perOp.get(name)!);
    const perStep = us('condition: evaluateExpression, cached') + us('email fields: renderDeep, cached');
    const table: Table = {
      title: `expressions — ${expressions.summary}`,
      latencyNote: 'time per evaluation, the mean within each batch; median and percentiles over the batches',
      latencyUnit: 'µs',
      throughputUnit: 'evaluations/s',
      rows,
      notes: [
        `condition \`${CONDITION}\`; email fields ${Object.values(EMAIL_FIELDS).map((t) => `\`${t}\``).join(', ')} (5 placeholders) rendered by renderDeep; ` +
          'scope as at the email step of the 5-step definition (trigger data, 3 variables, 3 earlier steps, run metadata), built anew for each evaluation as the interpreter does',
        'plain JS reads the same properties and builds the same strings synchronously; every other row awaits its evaluation, as the interpreter does',
        PAIRED_NOTE,
        '"plain paths" is how V2 runs (and V1 runs under the `lean-runs-2026-11` patch) render them: each placeholder is a dotted path, read from the scope without JSONata and without copying the scope',
        '"JSONata evaluate alone" calls the compiled expression on a scope copied once: no per-evaluation prototype-free copy, no result-size check',
        '"compiled each time" adds a distinct comment to each expression, so every evaluation misses the cache and parses (the cache holds 2,000 expressions, keyed by text)',
        `a step with one condition and these fields spends about ${perStep.toFixed(0)} µs on expressions with the cache: ` +
          `${((perStep / 1000 / 10) * 100).toFixed(1)}% of a 10 ms workflow task`,
      ],
    };
    return { table, targets: [] };
  },
};
