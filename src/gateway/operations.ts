/**
 * How a route describes itself in the API document: each routes file
 * declares its operations beside its handlers (request and answer schemas,
 * who may call, what can go wrong), serves each from its declaration
 * (declared-router.ts), and src/gateway/openapi.ts builds the OpenAPI
 * document from those declarations.
 */
import { z } from 'zod';
import { isRole, type Role } from '../shared/roles';
import type { ProblemCode } from './problem';

type Json = Record<string, unknown>;

/**
 * The document's named schemas, `components.schemas`: a schema registered
 * here is referenced by its id wherever it is used. Request and answer
 * schemas must be named.
 */
export const apiSchemas = z.registry<{ id: string }>();

/**
 * Names a schema in the document and returns it unchanged, so the route
 * validates (or describes its answer) with the very schema the document shows.
 */
export function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

/** The document's groups of operations, in the order it lists them. */
export const TAGS = {
  Definitions: 'Workflow definitions and their versions.',
  Runs: 'Starting runs, with an API key or a signed webhook.',
  Executions: 'Runs as the Postgres mirror records them, and acting on them.',
  Recovery: 'Resetting and replaying failed runs in bulk, with a dry run first; moving waiting runs to a new version; batches and the audit log.',
  Reports: 'Runs, success rates, durations, step failures and deliveries per day, from rollups of the mirror (viewers may read).',
  Connections: 'Named credentials that steps use (admins write; secrets are never answered).',
  'API keys': 'Keys and their roles (admin only).',
  Deployments: 'Builds of the worker under Worker Versioning: current, ramping, open runs, drainage (admin only; moves are made with npm run cli -- deploy).',
  Probes: 'Health, readiness and metrics: open, never rate limited.',
  Reference: 'This document.',
} as const;
export type Tag = keyof typeof TAGS;

/** Who may call an operation: anyone, a signed webhook sender, Prometheus (open unless METRICS_REQUIRE_KEY), or an API key with at least a role. */
export type Access = 'open' | 'signed' | 'metrics' | Role;

/**
 * The lowest role of an API key (or token) an operation of this access takes,
 * or null when it takes none: what the gateway enforces (declared-router.ts)
 * and what the document states, read from the one declaration.
 */
export function requiredRole(access: Access, { metricsRequireKey = false }: { metricsRequireKey?: boolean } = {}): Role | null {
  if (isRole(access)) return access;
  // METRICS_REQUIRE_KEY: a key of any role.
  return access === 'metrics' && metricsRequireKey ? 'viewer' : null;
}

export interface Body {
  schema: z.ZodType;
  description: string;
  /** An empty body is read as `{}`, so the body may be left out. */
  optional?: boolean;
  example?: unknown;
}

export interface Answer {
  description: string;
  /** The JSON answer's schema; without it (and without `type`), any JSON object. */
  schema?: z.ZodType;
  /** Content type when not JSON. */
  type?: 'text/plain' | 'text/html';
  headers?: Record<string, Json>;
  /** The answer has no body. */
  empty?: boolean;
}

export interface Operation {
  tag: Tag;
  summary: string;
  description?: string;
  access: Access;
  params?: Record<string, { description: string; schema?: z.ZodType }>;
  query?: { schema: z.ZodType; docs: Record<string, { description: string; example?: unknown }> };
  headers?: { name: string; required: boolean; description: string; schema: Json }[];
  body?: Body;
  answers: Record<number, Answer>;
  /** Problems this operation answers with, besides those every operation of its kind may give. */
  problems?: ProblemCode[];
}

/** A routes file's operations, keyed by method and Express path (`POST /api/workflows/:id/execute`). */
export type Operations = Record<`${'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'} /${string}`, Operation>;

/**
 * What a handler builds for an answer schema: the schema's shape, where a
 * `Date` may stand for a string (JSON writes it as its ISO time). A handler's
 * answer typed so cannot leave out, add or mistype a field the document shows.
 */
export type Built<S extends z.ZodType> = Dated<z.output<S>>;
type Dated<T> = T extends string ? T | Date : T extends readonly (infer U)[] ? Dated<U>[] : T extends object ? { [K in keyof T]: Dated<T[K]> } : T;

// --- pieces the routes' answer schemas share ------------------------------------------------------

/** A time as answers carry it: ISO 8601 with an offset. */
/**
 * `value` as one of the `values` the API document lists for a field: a stored value the
 * document lacks fails the answer, naming `what` holds it, instead of reaching the caller.
 */
export function documented<const T extends string>(values: readonly T[], value: string, what: string): T {
  const known = values.find((listed) => listed === value);
  if (known === undefined) throw new Error(`${what} is "${value}", which the API does not describe`);
  return known;
}

export const time = z.iso.datetime({ offset: true });
export const uuid = z.uuid();

/** Path parameters several routes take. */
export const DEFINITION_ID = { description: "the definition's UUID or its `key`" };
export const EXECUTION_ID = { description: "the execution's id (UUID) or its Temporal workflow id" };

/** The `Location` header of an answer that made something. */
export const LOCATION = { Location: { description: 'where the new resource is', schema: { type: 'string' } } };
