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
import { Router } from 'express';
import type { RouteDeps } from '../context';
import { HttpProblem } from '../problem';
import { idempotencyHeader, startAndAnswer, triggerDataSchema } from '../start-run';
import { JSON_TYPES, parseRequest } from '../validate';
import { verifyDelivery } from '../webhook-signature';

/** The body exactly as received, kept by the JSON parser (see app.ts) for signature checks. */
export interface RawBodyCarrier {
  rawBody?: Buffer;
}

export function hookRoutes(deps: RouteDeps): Router {
  const { config } = deps;
  const router = Router();

  router.post('/api/hooks/:key', async (req, res) => {
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
