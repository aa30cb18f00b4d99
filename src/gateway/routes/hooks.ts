/**
 * Webhook triggers (`POST /api/hooks/:key`): a signed delivery starts the
 * definition with that key when its trigger is `webhook`. No API key: the
 * signature (see webhook-signature.ts) is the credential, checked before
 * anything is looked up, so unsigned callers learn nothing about definitions.
 *
 * A delivery's id makes redelivery safe: the same id starts no second run but
 * answers the first. Under the standard scheme the id is the signed
 * `webhook-id`, so a captured delivery sent under a new id fails its signature.
 * Under the legacy scheme it is `X-Delivery-Id`, which is not signed; a legacy
 * delivery without one is known by its signature (timestamp and HMAC, so its
 * timestamp and body): the same signed request sent again answers the first run.
 */
import type { Router } from 'express';
import { IDEMPOTENCY_KEY_PATTERN } from '../../executions/idempotent-start';
import type { RouteDeps } from '../context';
import { declaredRouter } from '../declared-router';
import { LOCATION, type Operations } from '../operations';
import { HttpProblem } from '../problem';
import { idempotencyHeader, runStartedSchema, startAndAnswer, triggerDataSchema } from '../start-run';
import { JSON_TYPES, parseRequest } from '../validate';
import { SIGNATURE_TOLERANCE_SECONDS, verifyDelivery, WEBHOOK_ID_PATTERN } from '../webhook-signature';

/** The body exactly as received, kept by the JSON parser (see app.ts) for signature checks. */
export interface RawBodyCarrier {
  rawBody?: Buffer;
}

export const hookOperations = {
  'POST /api/hooks/:key': {
    tag: 'Runs',
    summary: 'Webhook trigger: start a run of the definition with this key',
    description:
      "The definition's trigger must be `webhook`. No API key: the request is signed with the shared secret (`WEBHOOK_SIGNATURE_SECRET`) " +
      'the [Standard Webhooks](https://www.standardwebhooks.com) way: `webhook-signature` holds `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">`, ' +
      `keyed with the base64-decoded bytes after \`whsec_\`; the timestamp may be at most ${SIGNATURE_TOLERANCE_SECONDS} s from the gateway's clock. ` +
      'The id is signed: the same id again answers the first run, another id needs its own signature. ' +
      'Where `WEBHOOK_SIGNATURE_SCHEME` is `legacy` or `both`, older senders sign `X-Signature` instead (see the API reference). ' +
      'The signature is checked before anything is looked up. The body is the trigger data.',
    access: 'signed',
    params: { key: { description: "the definition's `key`" } },
    headers: [
      {
        name: 'webhook-id',
        required: false,
        description: "the delivery's id, signed; the same id starts no second run. Required unless the legacy scheme is used",
        schema: { type: 'string', pattern: WEBHOOK_ID_PATTERN.source },
      },
      {
        name: 'webhook-timestamp',
        required: false,
        description: 'when the delivery was signed, in unix seconds. Required unless the legacy scheme is used',
        schema: { type: 'string', pattern: '^\\d{1,12}$' },
      },
      {
        name: 'webhook-signature',
        required: false,
        description:
          'space-separated `v1,<base64>` signatures (one per secret while a secret is rotated; other versions are ignored). Required unless the legacy scheme is used',
        schema: { type: 'string', pattern: '^[A-Za-z0-9]+,[A-Za-z0-9+/=]+( +[A-Za-z0-9]+,[A-Za-z0-9+/=]+)*$' },
      },
      {
        name: 'X-Signature',
        required: false,
        description:
          'legacy scheme, where `WEBHOOK_SIGNATURE_SCHEME` is `legacy` or `both`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; several `v1` values may be sent while the secret is rotated',
        schema: { type: 'string', pattern: '^t=\\d{1,12}(,[A-Za-z0-9]+=[^,]*)+$' },
      },
      {
        name: 'X-Delivery-Id',
        required: false,
        description: 'legacy scheme only (not signed): makes redelivery safe, the same id starts no second run',
        schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
      },
    ],
    body: { schema: triggerDataSchema, description: "the trigger data: the run's `input`", optional: true, example: { orderId: 'SO-1' } },
    answers: {
      202: { description: 'the run is accepted', schema: runStartedSchema, headers: LOCATION },
      200: { description: 'a delivery with this id (webhook-id, or a legacy X-Delivery-Id) already started the run', schema: runStartedSchema, headers: LOCATION },
    },
    problems: [
      'validation_failed',
      'not_found',
      'definition_disabled',
      'definition_invalid',
      'definition_version_missing',
      'temporal_unavailable',
      'webhooks_not_configured',
    ],
  },

} satisfies Operations;

export function hookRoutes(deps: RouteDeps): Router {
  const { config } = deps;
  const { router, serve } = declaredRouter(hookOperations);

  serve('POST /api/hooks/:key', async (req, res) => {
    const webhooks = config.webhooks;
    if (!webhooks) {
      throw new HttpProblem('webhooks_not_configured', 'webhooks are not configured on this gateway: WEBHOOK_SIGNATURE_SECRET is not set');
    }
    // A body the JSON parser skipped has no raw bytes to check, and no trigger data.
    if (req.is(JSON_TYPES) === false) {
      throw new HttpProblem('unsupported_media_type', 'send the trigger data as a JSON object with Content-Type: application/json');
    }
    const raw = (req as RawBodyCarrier).rawBody ?? Buffer.alloc(0);
    const verdict = verifyDelivery(webhooks, (name) => req.get(name), raw);
    if (!verdict.ok) {
      throw new HttpProblem('invalid_signature', verdict.message, [{ path: `$.headers["${verdict.field.header}"]`, message: verdict.field.message }]);
    }

    const deliveryId =
      verdict.scheme === 'standard'
        ? verdict.deliveryId
        : (idempotencyHeader(req, 'X-Delivery-Id') ?? signedDeliveryKey(verdict.timestamp, verdict.signature));
    const definition = await deps.lookups.definition(req.params.key);
    // One answer for "no such key" and "not a webhook": the hook must not reveal other definitions.
    if (!definition || definition.key !== req.params.key || definition.trigger_type !== 'webhook') {
      throw new HttpProblem('not_found', `no webhook is registered under "${req.params.key}"`);
    }
    const triggerData = parseRequest(triggerDataSchema, req.body ?? {}, 'body');
    await startAndAnswer(deps, res, definition, {
      triggerData,
      triggerType: 'webhook',
      idempotencyKey: deliveryId,
      dataPath: '$.body',
    });
  });

  return router;
}

/** The idempotency key of a legacy delivery that names no `X-Delivery-Id`: its signature's timestamp and HMAC. */
export function signedDeliveryKey(timestamp: number, signature: string): string {
  return `signed:${timestamp}:${signature}`;
}
