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
import type { RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import { EncryptionCodec, encryptionKeys, payloadUnreadable } from '../../temporal/encryption';
import { declaredRouter } from '../declared-router';
import { type Built, named, type Operations } from '../operations';
import { HttpProblem } from '../problem';
import { parseRequest } from '../validate';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

/** The codec's request, and its answer. */
export const codecBody = named(
  'CodecPayloads',
  z
    .object({
      payloads: z
        .array(z.object({ metadata: z.record(z.string(), base64).default({}), data: base64.default('') }).strict())
        .max(1000),
    })
    .strict(),
);

export const codecOperations = {
  'POST /api/codec/decode': {
    tag: 'Executions',
    summary: "Decode payloads (the Temporal UI's remote codec)",
    description:
      "Opens payloads sealed by the payload encryption (ENCRYPTION_KEYS), in the protocol of the Temporal Web UI and CLI: payloads as JSON, metadata values and data in base64. Payloads that are not sealed come back as they are. Answers CORS for the Temporal UI's origin and the origins in CORS_ORIGINS.",
    access: 'viewer',
    body: { schema: codecBody, description: 'the payloads to open', example: { payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, data: '' }] } },
    answers: { 200: { description: 'the payloads, opened', schema: codecBody } },
    problems: ['validation_failed'],
  },
  'POST /api/codec/encode': {
    tag: 'Executions',
    summary: "Encode payloads (the Temporal UI's remote codec)",
    description: 'Seals payloads with the current key, as clients and workers do; with encryption off, answers them as they are.',
    access: 'operator',
    body: { schema: codecBody, description: 'the payloads to seal', example: { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'e30=' }] } },
    answers: { 200: { description: 'the payloads, sealed', schema: codecBody } },
    problems: ['validation_failed'],
  },
} satisfies Operations;

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
  const { router, serve } = declaredRouter(codecOperations);
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
    const answer: Built<typeof codecBody> = { payloads: out.map(toJson) };
    res.json(answer);
  };
  serve('POST /api/codec/decode', handle('decode'));
  serve('POST /api/codec/encode', handle('encode'));
  return router;
}
