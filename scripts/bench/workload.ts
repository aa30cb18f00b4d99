/**
 * What the benchmarks comparing the interpreter with hand-written workflows
 * share: their sizes, the five-step definition, the variants measured (the
 * product's run, the hand-written workflow plain and labelled), and measuring
 * them side by side.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { createActivities } from '../../activities';
import { createDefinition } from '../../db/definitions';
import { insertExecution } from '../../db/executions';
import type { Database, DefinitionRow } from '../../db/schema';
import { interpreterStartOptions, mirrorRow } from '../../src/executions/start';
import { type Definition, type DefinitionInput, parseDefinition } from '../../src/shared/definition';
import { INTERPRETER_WORKFLOW } from '../../src/shared/run';
import { workflowIdFor } from '../../src/temporal/client';
import type { Say } from '../lib/temporal';
import type { BenchEnv, RunningWorker, ServerSetup } from './env';
import { batches, oneAtATime, timed, type Timed, type Variant, warmUp } from './measure';
import { fromRounds, type Row } from './stats';
import type { OrderShippedInput } from './workflows';

/** Workload sizes of the default run: enough runs for a stable median, the whole run within minutes on 2 cores. */
export const SIZES = {
  interpreter: { warmUp: 5, oneAtATime: 40, rounds: 6, batch: 40, concurrency: 10 },
  sequential40: { steps: 40, warmUp: 1, oneAtATime: 6, setups: ['tuned', 'partitions', 'slowTransfer'] as ServerSetup[] },
  mirror: { warmUp: 5, oneAtATime: 20, rounds: 6, batch: 40, concurrency: 10 },
  /** More batches than the interpreter's: the codec's cost is far below the spread of six. */
  encryption: { warmUp: 5, oneAtATime: 40, rounds: 16, batch: 40, concurrency: 10 },
} as const;

// --- the five-step definition --------------------------------------------------------------

export const ORDER_SHIPPED: DefinitionInput = {
  key: 'bench-order-shipped',
  name: 'Benchmark: order shipped',
  category: 'benchmark',
  steps: [
    { id: 'greeting', type: 'set', values: { who: '{{ input.customer.name }}', total: '{{ input.total }}' } },
    {
      id: 'bigOrder',
      type: 'condition',
      condition: 'vars.total > 100',
      then: [{ id: 'vip', type: 'set', values: { tier: 'vip' } }],
      else: [{ id: 'regular', type: 'set', values: { tier: 'regular' } }],
    },
    {
      id: 'mail',
      type: 'email',
      to: '{{ input.customer.email }}',
      subject: 'Order {{ input.orderId }} shipped',
      text: 'Hello {{ vars.who }}, total {{ vars.total }} ({{ vars.tier }}).',
    },
    { id: 'notify', type: 'slack', channel: '{{ input.channel }}', text: 'Order {{ input.orderId }} shipped to {{ vars.who }}' },
    { id: 'done', type: 'set', values: { notified: true, messageId: '{{ steps.mail.output.messageId }}' } },
  ],
};


let orderCounter = 0;
export function orderTrigger() {
  orderCounter += 1;
  return { orderId: `A-${orderCounter}`, customer: { name: 'Ada', email: 'ada@example.test' }, total: 180, channel: '#orders' };
}

export interface Installed {
  row: DefinitionRow;
  document: Definition;
}

export async function install(db: Kysely<Database>, input: DefinitionInput, key: string): Promise<Installed> {
  const parsed = parseDefinition({ ...input, key });
  if (!parsed.ok) throw new Error(`benchmark definition ${key} is invalid: ${JSON.stringify(parsed.problems)}`);
  const row = await createDefinition(db, parsed.definition);
  return { row, document: parsed.definition };
}

/**
 * The generic workflow as the product starts it (src/executions/start.ts): the
 * mirror row first (prepared, not timed), then the start with the same search
 * attributes and memo, timed from the start call to the result.
 */
export function interpreterVariant(
  name: string,
  worker: Pick<RunningWorker, 'config'> & { target: Pick<RunningWorker['target'], 'client'> },
  db: Kysely<Database>,
  def: Installed,
  trigger: () => Record<string, unknown>,
): Variant {
  const { row, document } = def;
  return {
    name,
    async prepare() {
      const executionId = randomUUID();
      const workflowId = workflowIdFor(row.key, executionId);
      const triggerData = trigger();
      await insertExecution(db, mirrorRow(row, row.current_version, executionId, workflowId, 'manual', triggerData));
      const run = { definition: row, version: row.current_version, document, executionId, workflowId, triggerType: 'manual' as const, triggerData };
      return () => timed(workflowId, () => worker.target.client.workflow.start(INTERPRETER_WORKFLOW, interpreterStartOptions(worker.config, run)));
    },
  };
}

/** A hand-written workflow from scripts/bench/workflows.ts, started plainly (no search attributes, no memo). */
export function handWrittenVariant(name: string, worker: RunningWorker, workflowType: string, args: () => unknown): Variant {
  return {
    name,
    async prepare() {
      const workflowId = `bench-hand-${randomUUID()}`;
      const input = args();
      return () => timed(workflowId, () => worker.target.client.workflow.start(workflowType, { taskQueue: worker.taskQueue, workflowId, args: [input] }));
    },
  };
}

/**
 * The hand-written workflow started with what the product puts on every
 * start of the interpreter (search attributes, memo, summaries): so the gap
 * to the interpreter without what any well-labelled run costs the server.
 */
export function handWrittenLabelledVariant(name: string, worker: RunningWorker, workflowType: string, args: () => unknown, def: Installed): Variant {
  const { row, document } = def;
  return {
    name,
    async prepare() {
      const executionId = randomUUID();
      const workflowId = `bench-hand-${executionId}`;
      const input = args();
      const run = { definition: row, version: row.current_version, document, executionId, workflowId, triggerType: 'manual' as const, triggerData: orderTrigger() };
      const { typedSearchAttributes, memo, staticSummary, staticDetails } = interpreterStartOptions(worker.config, run);
      return () =>
        timed(workflowId, () =>
          worker.target.client.workflow.start(workflowType, {
            taskQueue: worker.taskQueue,
            workflowId,
            args: [input],
            typedSearchAttributes,
            memo,
            staticSummary,
            staticDetails,
          }),
        );
    },
  };
}

/**
 * The product's worker on `taskQueue`, and the same worker on `<taskQueue>-unmirrored` with the
 * mirror's write (the recordRunEvents activity, which the worker's final write calls too) a no-op.
 */
export function startWorkerPair(env: BenchEnv, taskQueue: string): Promise<[RunningWorker, RunningWorker]> {
  return Promise.all([
    env.startWorker({ target: env.tuned, taskQueue }),
    env.startWorker({
      target: env.tuned,
      taskQueue: `${taskQueue}-unmirrored`,
      activities: (config) => ({ ...createActivities({ config, db: env.db }), recordRunEvents: async () => undefined }),
    }),
  ]);
}

export function orderShippedArgs(worker: RunningWorker): () => OrderShippedInput {
  return () => ({ ...orderTrigger(), defaultStepTimeoutSeconds: worker.config.workflow.defaultTimeoutSeconds });
}

/** The variants measured side by side: warm-up runs, runs one at a time in turn, then batches in flight in turn. */
export async function sideBySide(name: string, variants: Variant[], size: { warmUp: number; oneAtATime: number; rounds: number; batch: number; concurrency: number }, say: Say) {
  say(`${name}: warming up (${size.warmUp} runs each)`);
  await warmUp(variants, size.warmUp);
  say(`${name}: ${size.oneAtATime} runs each, one at a time, alternating`);
  const single = await oneAtATime(variants, size.oneAtATime);
  say(`${name}: ${size.rounds} batches each of ${size.batch} runs, ${size.concurrency} in flight, taking turns`);
  const batched = await batches(variants, size);
  /** A variant's row of the table: its one-at-a-time latencies and its batches' throughput. */
  const row = (variant: Variant, events: number, baseline?: string): Row => ({
    variant: variant.name,
    samples: single.get(variant.name)!.map((r) => r.ms),
    ...fromRounds(batched.get(variant.name)!),
    events,
    ...(baseline ? { baseline } : {}),
  });
  return { single, batched, row };
}

/** The workflow id of the last of these runs. */
export const last = (runs: Timed[] | undefined): string => {
  const run = runs?.at(-1);
  if (!run) throw new Error('no run was measured');
  return run.workflowId;
};
