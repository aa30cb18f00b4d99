/** Starting a run from a route: trigger data checks, idempotency headers, and the answer. */
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { DefinitionRow } from '../../db/schema';
import { IDEMPOTENCY_KEY_PATTERN, startExecutionIdempotently } from '../executions/idempotent-start';
import { startExecution, StartError, StartOptionError, TriggerDataError } from '../executions/start';
import { underPath } from '../shared/json-path';
import type { TriggerType } from '../shared/run';
import type { RouteDeps } from './context';
import { EXECUTION_STATUSES } from '../shared/status';
import { type Built, named, uuid } from './operations';
import { HttpProblem } from './problem';
import { nestingDepthExceeds } from './validate';

/** Deepest nesting of objects and arrays accepted in trigger data; the object itself is level 1. */
export const MAX_TRIGGER_DEPTH = 32;

/** Trigger data as any start accepts it: a JSON object, not absurdly deep. */
export const triggerDataSchema = named(
  'TriggerData',
  z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
    .refine((data) => !nestingDepthExceeds(data, MAX_TRIGGER_DEPTH), {
      message: `is nested deeper than ${MAX_TRIGGER_DEPTH} levels`,
    }),
);

/**
 * How long `waitUrl` waits: well inside the read timeouts of common proxies
 * (nginx and load balancers close an idle answer after 60 s by default).
 */
const WAIT_URL_SECONDS = 30;

/**
 * Where a started run is followed: `statusUrl` answers it as it stands,
 * `waitUrl` once it has ended (ask again while it runs).
 */
export function runUrls(executionId: string): { statusUrl: string; waitUrl: string } {
  const statusUrl = `/api/executions/${executionId}`;
  return { statusUrl, waitUrl: `${statusUrl}?wait=${WAIT_URL_SECONDS}s` };
}

/** How a run answer documents them. */
export const runUrlFields = {
  statusUrl: z.string().meta({ description: 'the run as it stands' }),
  waitUrl: z.string().meta({ description: `the run once it has ended: the answer waits up to ${WAIT_URL_SECONDS} s; ask again while it runs` }),
};

/** The answer to a start. */
export const runStartedSchema = named(
  'RunStarted',
  z.object({
    executionId: uuid,
    workflowId: z.string(),
    runId: z.string(),
    definitionVersion: z.int().min(1),
    status: z.enum(EXECUTION_STATUSES).optional(),
    ...runUrlFields,
    idempotentReplay: z.boolean().optional().meta({ description: 'with an idempotency key: whether this run was started by an earlier request' }),
  }),
);

/**
 * The value of a header carrying an idempotency key (`Idempotency-Key`,
 * `X-Delivery-Id`), undefined when absent; a 400 naming the header when it is
 * not 1 to 200 characters of letters, digits, `.`, `_`, `:` and `-`.
 */
export function idempotencyHeader(req: Request, name: 'Idempotency-Key' | 'X-Delivery-Id'): string | undefined {
  const value = req.get(name);
  if (value === undefined) return undefined;
  if (IDEMPOTENCY_KEY_PATTERN.test(value)) return value;
  const message = 'must be 1 to 200 characters of letters, digits, ".", "_", ":" and "-"';
  throw new HttpProblem('validation_failed', `the ${name} header ${message}`, [
    { path: `$.headers["${name.toLowerCase()}"]`, message },
  ]);
}

/**
 * Starts a run (or, with an idempotency key, finds the one the key already
 * started) and answers: 202 for a new run, 200 with `idempotentReplay: true`
 * for an earlier one. `dataPath` is where the trigger data sat in the request,
 * for the paths of its problems.
 */
export async function startAndAnswer(
  { db, temporal, config, metrics, logger }: RouteDeps,
  res: Response,
  definition: DefinitionRow,
  start: {
    triggerData: Record<string, unknown>;
    triggerType: TriggerType;
    idempotencyKey: string | undefined;
    dataPath: string;
    /** The start's own deadline (`timeout` in the body), in milliseconds. */
    timeoutMs?: number | undefined;
  },
): Promise<void> {
  const deps = { db, client: temporal.client, config, logger };
  const options = { timeoutMs: start.timeoutMs };
  try {
    if (start.idempotencyKey === undefined) {
      const started = await startExecution(deps, definition, start.triggerData, start.triggerType, options);
      metrics.runsStarted.inc({ definition: definition.key, trigger: start.triggerType });
      const answer: Built<typeof runStartedSchema> = { ...started, status: 'RUNNING', ...runUrls(started.executionId) };
      res.status(202).location(`/api/executions/${started.executionId}`).json(answer);
      return;
    }
    const started = await startExecutionIdempotently(deps, definition, start.triggerData, start.triggerType, start.idempotencyKey, options);
    if (!started.idempotentReplay) metrics.runsStarted.inc({ definition: definition.key, trigger: start.triggerType });
    // Not typed by the schema: an earlier run's status comes from its mirror row, typed as any string there.
    res
      .status(started.idempotentReplay ? 200 : 202)
      .location(`/api/executions/${started.executionId}`)
      .json({ ...started, ...runUrls(started.executionId) });
  } catch (err) {
    if (err instanceof StartOptionError) {
      throw new HttpProblem('validation_failed', `timeout ${err.message}`, [{ path: '$.body.timeout', message: err.message }]);
    }
    if (err instanceof StartError) throw new HttpProblem(err.code, err.message);
    if (err instanceof TriggerDataError) {
      // The detail names each field where the errors do: under where the trigger data sits in the request.
      const fields = err.problems.map((p) => ({ path: underPath(start.dataPath, p.path), message: p.message }));
      throw new HttpProblem(
        'validation_failed',
        `trigger data does not match the definition's input schema: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`,
        fields,
      );
    }
    throw err;
  }
}
