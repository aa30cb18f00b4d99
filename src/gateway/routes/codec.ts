/**
 * The codec server (`POST /api/codec/decode`, `/api/codec/encode`), in the
 * protocol the Temporal Web UI and CLI speak: a JSON body of
 * `{"payloads": [{"metadata": {name: base64}, "data": base64}]}` answered in
 * the same shape. The UI (at TEMPORAL_UI_URL) calls it from the browser with
 * the signed-in user's token, so it answers CORS for that origin (and for the
 * listed CORS_ORIGINS, though not for `*`); the routes
 * need a key or token like every API route: a viewer may decode, an operator
 * encode. With encryption off, payloads come back as they went.
 */
import type { Payload } from '@temporalio/common';
import cors from 'cors';
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import { EncryptionCodec, encryptionKeys, payloadUnreadable } from '../../temporal/encryption';
import { requireRole } from '../auth';
import { HttpProblem } from '../problem';
import { parseRequest } from '../validate';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

export const codecBody = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(z.string(), base64).default({}), data: base64.default('') }).strict())
      .max(1000),
  })
  .strict();

/** CORS for the Temporal UI's origin (and the listed CORS_ORIGINS) on the codec routes: the UI sends its token in Authorization, and the namespace. */
export function codecCors(config: Pick<Config, 'temporal' | 'corsOrigins'>): RequestHandler {
  const origins = [new URL(config.temporal.uiUrl).origin, ...config.corsOrigins.filter((o) => o !== '*')];
  return cors({
    origin: origins,
    methods: ['POST'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Namespace'],
    credentials: true,
    maxAge: 600,
  });
}

function fromJson(p: z.infer<typeof codecBody>['payloads'][number]): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data, 'base64'),
  };
}

function toJson(p: Payload) {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

export function codecRoutes(config: Pick<Config, 'encryption'>): Router {
  const router = Router();
  const codec = config.encryption ? new EncryptionCodec(encryptionKeys(config.encryption)) : undefined;
  const handle = (direction: 'encode' | 'decode'): RequestHandler => async (req, res) => {
    const body = parseRequest(codecBody, req.body ?? {}, 'body');
    const payloads = body.payloads.map(fromJson);
    let out: Payload[];
    try {
      out = codec ? await codec[direction](payloads) : payloads;
    } catch (err) {
      // A payload this gateway cannot open is the caller's to know about, not an internal error.
      if (!payloadUnreadable(err)) throw err;
      throw new HttpProblem('validation_failed', (err as Error).message, [{ path: '$.body.payloads', message: (err as Error).message }]);
    }
    res.json({ payloads: out.map(toJson) });
  };
  router.post('/api/codec/decode', requireRole('viewer'), handle('decode'));
  router.post('/api/codec/encode', requireRole('operator'), handle('encode'));
  return router;
}
