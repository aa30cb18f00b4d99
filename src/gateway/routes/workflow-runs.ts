/**
 * Runs of a definition: starting one (`POST /api/workflows/:id/execute`) and
 * moving those waiting at a top-level step onto another version
 * (`POST /api/workflows/:id/migrate`).
 */
import type { Router } from 'express';
import { z } from 'zod';
import { migrateRequest, migrateWaitingRuns } from '../../executions/migration';
import { IDEMPOTENCY_KEY_PATTERN } from '../../executions/idempotent-start';
import { runTimeoutSchema } from '../../shared/definition';
import { parseDuration } from '../../shared/duration';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { DEFINITION_ID, LOCATION, named, type Operations, uuid } from '../operations';
import { idempotencyHeader, runStartedSchema, startAndAnswer, triggerDataSchema } from '../start-run';
import { parseRequest } from '../validate';
import { actorOf, refusal } from './recovery';
import { loadDefinition } from './workflows';

export const executeBody = named('ExecuteRequest', z
  .object({
    triggerData: triggerDataSchema.default({}),
    /** A deadline for this run, shorter than the definition's `timeout` if it has one. */
    timeout: runTimeoutSchema.optional(),
  })
  .strict());

/** The migration request, as src/executions/migration.ts reads it, named in the document. */
const migrateBody = named('MigrateRequest', migrateRequest);

const migrationResultSchema = named(
  'MigrationResult',
  z.object({
    definitionId: uuid,
    fromVersion: z.int(),
    toVersion: z.int(),
    dryRun: z.boolean(),
    total: z.int().meta({ description: 'open runs of the old version looked at (at most `limit`, oldest first)' }),
    more: z.boolean().meta({ description: 'more open runs of the old version are past the limit' }),
    movable: z.int(),
    moved: z.int(),
    refused: z.int(),
    runs: z.array(
      z.object({
        executionId: uuid,
        workflowId: z.string(),
        waitingAt: z.string().nullable().meta({ description: 'the top-level step it waits at now' }),
        waitingType: z.string().nullable(),
        continuesAt: z.string().optional().meta({ description: 'the step of the new version it goes on at' }),
        continuesType: z.string().optional(),
        notRun: z.array(z.string()).meta({ description: 'steps of the new version before that one which the run never ran: they will not run' }),
        passedRemoved: z.array(z.string()).meta({ description: 'steps the run passed that the new version no longer has' }),
        stepChanged: z.boolean().meta({ description: 'the step it goes on at differs in the new version' }),
        refused: z.string().optional().meta({ description: 'why it cannot (or did not) move' }),
        outcome: z.enum(['MOVED', 'REFUSED']).optional().meta({ description: 'after a real move' }),
      }),
    ),
  }),
);

export const workflowRunOperations = {
  'POST /api/workflows/:id/execute': {
    tag: 'Runs',
    summary: "Start a run of the definition's current version",
    description:
      "The workflow id is `<definition key>-<executionId>`. With an `Idempotency-Key`, the same key for the same definition answers the run it first started (200, `idempotentReplay: true`).",
    access: 'operator',
    params: { id: DEFINITION_ID },
    headers: [
      {
        name: 'Idempotency-Key',
        required: false,
        description: 'makes retrying the request safe: the same key starts no second run',
        schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
      },
    ],
    body: {
      schema: executeBody,
      description:
        "`triggerData` is the run's `input`; it must match the definition's `inputSchema`, if any. `timeout` gives this run a deadline (it ends TIMED_OUT), no longer than the definition's `timeout`",
      optional: true,
      example: { triggerData: { orderId: 'SO-1', email: 'ada.lovelace@example.com' } },
    },
    answers: {
      202: { description: 'the run is accepted; it has not finished', schema: runStartedSchema, headers: LOCATION },
      200: { description: 'an earlier request with this Idempotency-Key started the run', schema: runStartedSchema, headers: LOCATION },
    },
    problems: ['validation_failed', 'not_found', 'definition_disabled', 'definition_invalid', 'definition_version_missing', 'temporal_unavailable'],
  },
  'POST /api/workflows/:id/migrate': {
    tag: 'Recovery',
    summary: 'Move waiting runs onto another version of the definition',
    description:
      'Takes the open runs of `fromVersion` (oldest first, up to `limit`) that wait at a top-level `approval`, `delay` or `wait_for_signal` step, and moves each onto `toVersion` at the step it waits on: the same id, or the one `stepMap` names. ' +
      'The run continues as new on the new version with its variables, the outputs of the steps it passed and its undelivered events; steps before that one in the new version do not run; the wait goes on from when it began (a delay ends when it would on the new duration, an approval keeps its decisions). ' +
      'A run whose waiting step has no counterpart, that is busy, or that does not wait is refused, with the reason, and the others move. `"dryRun": true` answers the plan per run and changes nothing. The mirror row\'s version follows; the move is recorded in the audit log and in each run\'s step log (`MIGRATED`).',
    access: 'admin',
    params: { id: DEFINITION_ID },
    body: {
      schema: migrateBody,
      description: 'from which version to which, and why',
      example: { fromVersion: 3, toVersion: 4, stepMap: { approve: 'manager-approval' }, reason: 'approvals now go to the manager', dryRun: true },
    },
    answers: { 200: { description: 'the plan (dry run) or what was done, per run', schema: migrationResultSchema } },
    problems: ['validation_failed', 'not_found', 'nothing_matched', 'temporal_unavailable'],
  },
} satisfies Operations;

export function workflowRunRoutes(deps: RouteDeps): Router {
  const { db } = deps;
  const { router, serve } = declaredRouter(workflowRunOperations);

  /**
   * Starts a run of the definition's current version. With an `Idempotency-Key`
   * header, the same key for the same definition answers the run it first
   * started (200, `idempotentReplay: true`) instead of starting another.
   */
  serve('POST /api/workflows/:id/execute', async (req, res) => {
    const body = parseRequest(executeBody, req.body ?? {}, 'body');
    const idempotencyKey = idempotencyHeader(req, 'Idempotency-Key');
    const row = await loadDefinition(deps, req.params.id);
    await startAndAnswer(deps, res, row, {
      triggerData: body.triggerData,
      triggerType: 'manual',
      idempotencyKey,
      dataPath: '$.body.triggerData',
      timeoutMs: body.timeout === undefined ? undefined : parseDuration(body.timeout),
    });
  });

  /**
   * Moves the definition's runs waiting at a top-level approval, delay or
   * wait_for_signal step from one version to another, at the step they wait
   * on (src/executions/migration.ts). A dry run answers the plan per run.
   */
  serve('POST /api/workflows/:id/migrate', async (req, res) => {
    const body = parseRequest(migrateBody, req.body ?? {}, 'body');
    const row = await loadDefinition(deps, req.params.id, { fresh: true });
    try {
      res.json(await migrateWaitingRuns({ db, client: deps.temporal.client }, row, body, actorOf(res)));
    } catch (err) {
      throw refusal(err) ?? err;
    }
  });

  return router;
}
