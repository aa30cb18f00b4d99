/**
 * Text the gateway can hold. Everything a request carries to a route (path
 * segments, query parameter names and values, header values, and in a JSON
 * body every string and every object key at any depth) must be Unicode text
 * that Postgres and JSON can keep:
 *
 * - no NUL character: Postgres `text` and `jsonb` refuse U+0000;
 * - no unpaired UTF-16 surrogate (`"\ud800"` in JSON): it is not Unicode, and
 *   `jsonb` refuses it;
 * - percent-encodings that decode to UTF-8 (`%ED%A0%80` and `%E0%A4%A` do
 *   not), and bodies that are UTF-8 where they say they are.
 *
 * Anything else is refused here, once for every route, with 400 `invalid_text`
 * naming where it sat (`$.params.id`, `$.query.q`, `$.headers["…"]`,
 * `$.body.triggerData.name`), rather than failing as a 500 wherever it is
 * first stored. Two middlewares do it: {@link requestTextGuard} for the path,
 * query and headers, before any route; {@link bodyTextGuard} for the body,
 * right after the JSON parser (before the webhook route checks a signature).
 * A body nested deeper than {@link MAX_BODY_DEPTH} levels is refused there
 * too: storing or answering it would overflow a stack.
 */
import { isUtf8 } from 'node:buffer';
import type { Request, RequestHandler } from 'express';
import { HttpProblem, jsonPath, type ProblemField } from './problem';
import type { RawBodyCarrier } from './routes/hooks';

/** Deepest nesting of objects and arrays accepted in a request body; the body itself is level 1. */
export const MAX_BODY_DEPTH = 100;

/** At most this many bad places are named in one answer. */
const MAX_FIELDS = 10;

/** A UTF-16 surrogate without its other half (no `u` flag: the pattern sees code units). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored, or undefined when it can. */
export function textFault(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  const lone = LONE_SURROGATE.exec(text);
  if (lone) {
    const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
    return `must not contain an unpaired surrogate (U+${unit}): it is not Unicode text`;
  }
  return undefined;
}

const NOT_UTF8 = 'must be UTF-8 text, percent-encoded where needed';

/**
 * A percent-encoded component decoded strictly (`+` as a space where
 * `plusIsSpace`), or why it cannot be: an encoding that is not UTF-8, or
 * text that cannot be stored.
 */
export function decodeComponent(raw: string, { plusIsSpace = false } = {}): { text: string } | { fault: string } {
  let text: string;
  try {
    text = decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return { fault: NOT_UTF8 };
  }
  const fault = textFault(text);
  return fault ? { fault } : { text };
}

/** A declared route's path in segments: `:name` is a parameter, any other segment literal. */
type Template = readonly string[];

/**
 * Where a bad path segment sits: `$.params.<name>` when the path fits a
 * declared route (by its other segments) with a parameter there, `$.path`
 * otherwise.
 */
function segmentPath(segments: readonly string[], index: number, templates: readonly Template[]): string {
  for (const template of templates) {
    if (template.length !== segments.length || !template[index]!.startsWith(':')) continue;
    if (template.every((part, i) => i === index || part.startsWith(':') || part === segments[i])) {
      return jsonPath(['params', template[index]!.slice(1)]);
    }
  }
  return '$.path';
}

/** The problem for `fields`, at most {@link MAX_FIELDS} of them. */
export function invalidText(fields: readonly ProblemField[]): HttpProblem {
  const named = fields.slice(0, MAX_FIELDS);
  const more = fields.length > named.length ? `; and ${fields.length - named.length} more` : '';
  return new HttpProblem(
    'invalid_text',
    `the request holds text that cannot be stored: ${named.map((f) => `${f.path} ${f.message}`).join('; ')}${more}`,
    named,
  );
}

/** The bad places in the request's path, query string and headers. */
export function requestTextFaults(req: Pick<Request, 'url' | 'headers'>, templates: readonly Template[] = []): ProblemField[] {
  const fields: ProblemField[] = [];
  const queryAt = req.url.indexOf('?');
  const path = queryAt < 0 ? req.url : req.url.slice(0, queryAt);

  const segments = path.split('/');
  segments.forEach((segment, index) => {
    if (!segment.includes('%')) return;
    const decoded = decodeComponent(segment);
    if ('fault' in decoded) fields.push({ path: segmentPath(segments, index, templates), message: decoded.fault });
  });

  if (queryAt >= 0) {
    for (const pair of req.url.slice(queryAt + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq), { plusIsSpace: true });
      if ('fault' in name) {
        fields.push({ path: '$.query', message: `has a parameter name that ${name.fault}` });
        continue;
      }
      // The value is never repeated: it may be a credential sent where it should not be.
      const value = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1), { plusIsSpace: true });
      if ('fault' in value) fields.push({ path: jsonPath(['query', name.text]), message: value.fault });
    }
  }

  // Node's HTTP parser refuses NUL in headers and reads their bytes as Latin-1, so this finds nothing today; it holds should that change.
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of Array.isArray(value) ? value : [value ?? '']) {
      const fault = textFault(one);
      if (fault) fields.push({ path: jsonPath(['headers', name]), message: fault });
    }
  }
  return fields;
}

/**
 * Refuses a request whose path, query string or headers hold text that
 * cannot be stored, naming each place. `routes` are the Express paths the
 * gateway declares (`/api/workflows/:id`), to name a path parameter.
 */
export function requestTextGuard(routes: readonly string[] = []): RequestHandler {
  const templates = routes.map((route) => route.split('/'));
  return (req, _res, next) => {
    const fields = requestTextFaults(req, templates);
    if (fields.length > 0) throw invalidText(fields);
    next();
  };
}

/** A place in a parsed body: its key and the place it is in, so paths are built only for faults. */
interface Place {
  parent: Place | undefined;
  key: string | number;
}

function pathOf(place: Place | undefined): (string | number)[] {
  const parts: (string | number)[] = [];
  for (let p = place; p; p = p.parent) parts.unshift(p.key);
  return parts;
}

export type BodyFaults = { fields: ProblemField[] } | { tooDeep: ProblemField };

/**
 * The strings and object keys in `value` that cannot be stored, with their
 * JSON paths under `root`; or, first, that it nests deeper than `maxDepth`.
 * Walks with a stack of its own, so any depth costs no recursion.
 */
export function bodyTextFaults(value: unknown, root = 'body', maxDepth = MAX_BODY_DEPTH): BodyFaults {
  const fields: ProblemField[] = [];
  const stack: { value: unknown; place: Place; depth: number }[] = [{ value, place: { parent: undefined, key: root }, depth: 1 }];
  while (stack.length > 0) {
    const { value: node, place, depth } = stack.pop()!;
    if (typeof node === 'string') {
      const fault = textFault(node);
      if (fault) fields.push({ path: jsonPath(pathOf(place)), message: fault });
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return { tooDeep: { path: jsonPath([root]), message: `is nested deeper than ${maxDepth} levels` } };
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ value: node[i], place: { parent: place, key: i }, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(node);
    for (const key of keys) {
      const fault = textFault(key);
      if (fault) fields.push({ path: jsonPath([...pathOf(place), key]), message: `is an object key that ${fault}` });
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      stack.push({ value: (node as Record<string, unknown>)[keys[i]!], place: { parent: place, key: keys[i]! }, depth: depth + 1 });
    }
  }
  return { fields };
}

/** The charset a request's Content-Type names, lower-cased; UTF-8 when it names none. */
function charsetOf(req: Request): string {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get('content-type') ?? '');
  return (match?.[1] ?? 'utf-8').toLowerCase();
}

/**
 * Refuses a JSON body that holds text that cannot be stored, naming each
 * place, or that is not UTF-8 when it is sent as UTF-8 (the parser would
 * have put U+FFFD in place of its bad bytes); and one nested deeper than
 * {@link MAX_BODY_DEPTH}. Mount it right after the JSON parser, whose
 * `verify` keeps the raw bytes (see app.ts).
 */
export function bodyTextGuard(): RequestHandler {
  return (req, _res, next) => {
    const raw = (req as RawBodyCarrier).rawBody;
    if (raw && ['utf-8', 'utf8'].includes(charsetOf(req)) && !isUtf8(raw)) {
      throw invalidText([{ path: '$.body', message: 'must be UTF-8: it has bytes that are not' }]);
    }
    if (req.body === undefined) return next();
    const faults = bodyTextFaults(req.body);
    if ('tooDeep' in faults) {
      throw new HttpProblem('validation_failed', `the request is invalid: ${faults.tooDeep.path} ${faults.tooDeep.message}`, [faults.tooDeep]);
    }
    if (faults.fields.length > 0) throw invalidText(faults.fields);
    next();
  };
}
