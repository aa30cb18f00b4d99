/**
 * Hostile text in every position the API document names, sent with an admin
 * key: NUL characters, unpaired surrogates, percent-encodings that are not
 * UTF-8, bodies that are not UTF-8, and nesting past the limit. The document
 * is walked as served (`/api/openapi.json`): every path parameter, every query
 * parameter (and one it does not name), every header parameter, and in each
 * body (its documented example) every string, every object key and every
 * value's place. Each is answered 400 `invalid_text` naming the place (or
 * `validation_failed` for nesting), never a 5xx, and nothing is logged at
 * error level. And a credential in a query string reaches no log line.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../../src/gateway/openapi';
import { jsonPath } from '../../src/gateway/problem';
import { MAX_BODY_DEPTH } from '../../src/gateway/request-text';
import { createHarness, type Harness } from '../support/harness';
import { memoryLogger } from '../support/logs';

const logs = memoryLogger('debug');
let h: Harness;
let doc: OpenApiDocument;

beforeAll(async () => {
  h = await createHarness({
    worker: false,
    logger: logs.logger,
    env: { WEBHOOK_SIGNATURE_SECRET: `whsec_${randomBytes(32).toString('base64')}` },
  });
  const base = { name: 'Hostile', category: 'tests', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] };
  expect((await h.api('POST', '/api/workflows', { ...base, key: 'hostile-def' })).status).toBe(201);
  expect((await h.api('POST', '/api/workflows', { ...base, key: 'hostile-hook', trigger: { type: 'webhook' } })).status).toBe(201);
  const served = await h.api('GET', '/api/openapi.json', undefined, {}, { key: null });
  expect(served.status).toBe(200);
  doc = served.body;
});

afterAll(async () => {
  await h?.close();
});

// --- what is sent -------------------------------------------------------------------------------

/** Raw (already percent-encoded) path segments and query values that are not text. */
const HOSTILE_ENCODED = ['%00', 'a%00b', '%ED%A0%80', '%E0%A4%A', '%C0%80', '%FF', '%ZZ', '%'];

/** Strings, as JSON sends them escaped, that are not text Postgres or JSON can hold. */
const HOSTILE_STRINGS = ['\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\udc00\ud800'];

interface Operation {
  name: string;
  method: string;
  template: string;
  op: {
    parameters?: { name: string; in: 'path' | 'query' | 'header' }[];
    requestBody?: { content: { 'application/json': { example?: unknown } } };
  };
}

const operations = (): Operation[] =>
  Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${template}`, method: method.toUpperCase(), template, op: op as Operation['op'] })),
  );

/** The template with each path parameter a plausible value, or `raw` (sent as it is) for the one named. */
function pathOf(template: string, hostile?: { name: string; raw: string }): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    if (hostile?.name === name) return hostile.raw;
    if (name === 'version') return '1';
    if (template.startsWith('/api/workflows/')) return 'hostile-def';
    if (template.startsWith('/api/hooks/')) return 'hostile-hook';
    return randomUUID();
  });
}

interface Sent {
  what: string;
  status: number;
  body: any;
}

async function send(method: string, path: string, body?: string | Buffer): Promise<Sent> {
  const res = await fetch(`${h.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${h.adminKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { what: `${method} ${path}`, status: res.status, body: parsed };
}

/** Why an answer is not `400 invalid_text` naming `path`, or undefined when it is. */
function notRefusedAt(sent: Sent, path: string, code = 'invalid_text'): string | undefined {
  const named = (sent.body?.errors ?? []).map((e: { path: string }) => e.path);
  if (sent.status === 400 && sent.body?.code === code && named.includes(path)) return undefined;
  return `${sent.what} → ${sent.status} ${JSON.stringify(sent.body).slice(0, 300)} (wanted 400 ${code} naming ${path})`;
}

// --- a JSON value's places ----------------------------------------------------------------------

type Part = string | number;

/** Every place in `value`: strings, objects and arrays, with their paths (the value itself first). */
function places(value: unknown, path: Part[] = []): { path: Part[]; value: unknown }[] {
  const here = [{ path, value }];
  if (Array.isArray(value)) return [...here, ...value.flatMap((item, i) => places(item, [...path, i]))];
  if (value !== null && typeof value === 'object') return [...here, ...Object.entries(value).flatMap(([k, v]) => places(v, [...path, k]))];
  return here;
}

/** `value` with the place at `path` replaced by `by`. */
function replaced(value: unknown, path: Part[], by: unknown): unknown {
  if (path.length === 0) return by;
  const copy = structuredClone(value) as Record<Part, unknown>;
  let node = copy;
  for (const part of path.slice(0, -1)) node = node[part] as Record<Part, unknown>;
  node[path.at(-1)!] = by;
  return copy;
}

/** An array nested `levels` deep, as JSON text. */
const nestedText = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

/** JSON text of `value` with the marker string replaced by raw JSON `text` (too deep to build as a value). */
function withRawJson(value: unknown, text: string): string {
  return JSON.stringify(value).replace('"__RAW__"', text);
}

// --- the tests ----------------------------------------------------------------------------------

describe('hostile text in every position of every operation', () => {
  it('covers the operations the gateway declares', () => {
    expect(operations().length).toBeGreaterThan(40);
    expect(operations().filter((o) => o.op.requestBody).length).toBeGreaterThan(15);
  });

  it('in a path parameter: 400 invalid_text naming it', async () => {
    const wrong: string[] = [];
    let sent = 0;
    for (const { method, template, op } of operations()) {
      for (const param of (op.parameters ?? []).filter((p) => p.in === 'path')) {
        for (const raw of HOSTILE_ENCODED) {
          const answer = await send(method, pathOf(template, { name: param.name, raw }), op.requestBody ? '{}' : undefined);
          sent++;
          const why = notRefusedAt(answer, `$.params.${param.name}`);
          if (why) wrong.push(why);
        }
      }
    }
    expect(sent).toBeGreaterThan(150);
    expect(wrong).toEqual([]);
  });

  it('in a query parameter, named or not, and in a parameter name: 400 invalid_text naming it', async () => {
    const wrong: string[] = [];
    for (const { method, template, op } of operations()) {
      const names = [...(op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name), 'notAParameter'];
      const path = pathOf(template);
      const body = op.requestBody ? '{}' : undefined;
      for (const name of names) {
        for (const raw of HOSTILE_ENCODED) {
          const why = notRefusedAt(await send(method, `${path}?limit=5&${name}=${raw}`, body), jsonPath(['query', name]));
          if (why) wrong.push(why);
        }
      }
      const why = notRefusedAt(await send(method, `${path}?a%00b=1`, body), '$.query');
      if (why) wrong.push(why);
    }
    expect(wrong).toEqual([]);
  });

  it('in a body string, an object key, or bytes that are not UTF-8: 400 invalid_text naming the place', async () => {
    const wrong: string[] = [];
    let sent = 0;
    for (const { method, template, op } of operations().filter((o) => o.op.requestBody)) {
      const path = pathOf(template);
      const example = op.requestBody!.content['application/json'].example ?? {};
      for (const place of places(example)) {
        const at = jsonPath(['body', ...place.path]);
        if (typeof place.value === 'string') {
          for (const text of HOSTILE_STRINGS) {
            const why = notRefusedAt(await send(method, path, JSON.stringify(replaced(example, place.path, text))), at);
            sent++;
            if (why) wrong.push(why);
          }
        } else if (place.value !== null && typeof place.value === 'object' && !Array.isArray(place.value)) {
          for (const text of HOSTILE_STRINGS) {
            // A new key, and each existing key made hostile.
            const key = `k${text}`;
            const added = replaced(example, place.path, { ...place.value, [key]: 'x' });
            const why = notRefusedAt(await send(method, path, JSON.stringify(added)), jsonPath(['body', ...place.path, key]));
            sent++;
            if (why) wrong.push(why);
            for (const existing of Object.keys(place.value)) {
              const renamed = Object.fromEntries(Object.entries(place.value).map(([k, v]) => [k === existing ? `${k}${text}` : k, v]));
              const answer = await send(method, path, JSON.stringify(replaced(example, place.path, renamed)));
              sent++;
              const reason = notRefusedAt(answer, jsonPath(['body', ...place.path, `${existing}${text}`]));
              if (reason) wrong.push(reason);
            }
          }
        }
        // Any place: a value holding hostile text one level down.
        const why = notRefusedAt(await send(method, path, JSON.stringify(replaced(example, place.path, ['ok', '\u0000']))), jsonPath(['body', ...place.path, 1]));
        sent++;
        if (why) wrong.push(why);
      }
      // Bytes that are not UTF-8: a stray byte, and a surrogate encoded as bytes (CESU-8).
      for (const bytes of [[0xff], [0xed, 0xa0, 0x80], [0xc0, 0x80]]) {
        const raw = Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bytes), Buffer.from('"}')]);
        const why = notRefusedAt(await send(method, path, raw), '$.body');
        sent++;
        if (why) wrong.push(why);
      }
    }
    expect(sent).toBeGreaterThan(500);
    expect(wrong).toEqual([]);
  });

  it(`nested deeper than ${MAX_BODY_DEPTH} levels at any place of a body, however deep: 400, and never a 5xx at the limit`, async () => {
    const wrong: string[] = [];
    for (const { method, template, op } of operations().filter((o) => o.op.requestBody)) {
      const path = pathOf(template);
      const example = op.requestBody!.content['application/json'].example ?? {};
      for (const place of places(example)) {
        const depth = place.path.length + 1;
        const body = replaced(example, place.path, '__RAW__');
        // One level past the limit, counting the levels above the place.
        const over = await send(method, path, withRawJson(body, nestedText(MAX_BODY_DEPTH - depth + 2)));
        const why = notRefusedAt(over, '$.body', 'validation_failed');
        if (why) wrong.push(why);
        // At the limit, past the guard: whatever the route says, not a 5xx.
        if (MAX_BODY_DEPTH - depth + 1 >= 1) {
          const at = await send(method, path, withRawJson(body, nestedText(MAX_BODY_DEPTH - depth + 1)));
          if (at.status >= 500) wrong.push(`${at.what} at the limit → ${at.status} ${JSON.stringify(at.body).slice(0, 300)}`);
        }
      }
      const deepest = await send(method, path, nestedText(200_000));
      const why = notRefusedAt(deepest, '$.body', 'validation_failed');
      if (why) wrong.push(why);
    }
    expect(wrong).toEqual([]);
  });

  it('in a header, or raw bytes in the path: refused or read as Latin-1, never a 5xx', async () => {
    const port = Number(new URL(h.baseUrl).port);
    const wrong: string[] = [];
    for (const { method, template, op } of operations()) {
      const path = pathOf(template);
      // Without a worker the full health report is 503 whatever is sent: only a 5xx the hostile bytes cause counts.
      const plain = await rawStatus(port, method, path, []);
      const broken = (status: number) => status === 0 || (status >= 500 && status !== plain);
      const headers = [...(op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name), 'Idempotency-Key', 'X-Request-Id'];
      for (const name of headers) {
        for (const value of [Buffer.from('a\u0000b', 'latin1'), Buffer.from([0xff, 0xfe]), Buffer.from('é', 'utf8'), Buffer.from([0xed, 0xa0, 0x80])]) {
          const status = await rawStatus(port, method, path, [[name, value]]);
          if (broken(status)) wrong.push(`${method} ${template} with ${name}: ${value.toString('hex')} → ${status}`);
        }
      }
      const status = await rawStatus(port, method, Buffer.concat([Buffer.from(path), Buffer.from([0xff, 0x00])]), []);
      if (broken(status)) wrong.push(`${method} ${template} with raw bytes in the path → ${status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('is answered quietly: nothing was logged at error level', () => {
    const errors = logs.lines.filter((l) => l.level >= 50);
    expect(errors.map((l) => `${l.msg} ${l.req?.method ?? ''} ${l.req?.url ?? l.path ?? ''}`)).toEqual([]);
    expect(logs.lines.some((l) => l.level === 40 && l.res?.statusCode === 400)).toBe(true);
  });
});

/** The status of a request written byte for byte (fetch refuses such headers); 0 when the server hung up without one. */
function rawStatus(port: number, method: string, path: string | Buffer, headers: [string, Buffer][]): Promise<number> {
  const head = Buffer.concat([
    Buffer.from(`${method} `),
    Buffer.from(path),
    Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.adminKey}\r\nConnection: close\r\n`),
    ...headers.flatMap(([name, value]) => [Buffer.from(`${name}: `), value, Buffer.from('\r\n')]),
    Buffer.from(method === 'GET' || method === 'DELETE' ? '\r\n' : 'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'),
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? 0)));
  });
}

describe('a credential in a query string', () => {
  it('reaches no log line, on any route, in any answer, in the URL or the Referer', async () => {
    const canary = `wfa_${randomBytes(32).toString('base64url').slice(0, 43)}`;
    const before = logs.lines.length;
    const paths = [
      `/api/workflows?api_key=${canary}`,
      `/api/executions?status=FAILED&API_KEY=${canary}&limit=5`,
      `/api/workflows/hostile-def?key=${canary}`,
      `/api/workflows?apikey=${canary}`,
      `/api/reports/summary?token=${canary}`,
      `/api/executions?access_token=${canary}`,
      `/api/keys?password=${canary}&secret=${canary}`,
      `/api/no/such/route?signature=${canary}&sig=${canary}`,
      `/livez?api%5Fkey=${canary}`,
      `/console/?code=${canary}&state=x`,
      // Refused for its text, logged all the same.
      `/api/workflows?api_key=${canary}%00`,
    ];
    for (const path of paths) {
      // No key at all, a key, and a Referer carrying the credential.
      await h.api('GET', path, undefined, {}, { key: null });
      await h.api('GET', path);
      await h.api('GET', '/api/workflows', undefined, { referer: `https://app.example${path}` });
    }
    await h.api('POST', `/api/hooks/hostile-hook?token=${canary}`, { n: 1 }, {}, { key: null });
    await h.api('POST', `/api/workflows/hostile-def/execute?api_key=${canary}`, { triggerData: {} }, {}, { key: null });

    const lines = logs.lines.slice(before);
    expect(lines.length).toBeGreaterThanOrEqual(paths.length * 3);
    const leaking = lines.filter((l) => JSON.stringify(l).includes(canary.slice(4)));
    expect(leaking.map((l) => JSON.stringify(l).slice(0, 300))).toEqual([]);
    // The lines still say which route was asked, with the value blanked.
    expect(lines.map((l) => l.req?.url)).toContain('/api/workflows?api_key=[redacted]');
    expect(lines.map((l) => l.req?.url)).toContain('/api/executions?status=FAILED&API_KEY=[redacted]&limit=5');
    expect(lines.map((l) => l.req?.headers?.referer)).toContain('https://app.example/api/reports/summary?token=[redacted]');
  });
});
