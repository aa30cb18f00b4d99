/**
 * The console's client of the gateway API: same origin, the signed-in key as
 * a bearer token, problems (RFC 9457) as {@link ApiProblem}. The answer types
 * are the API's own (type-only imports of the server modules, erased from
 * the bundle), as JSON carries them: times as strings.
 */
import type { DailyRow, DeliveryRow, StepRow, Summary } from '../../db/reports';
import type { BatchProgress, BulkPreview } from '../../src/executions/recovery';
import type { ConnectionAnswer, ConnectionCheckAnswer, connectionTypeViews } from '../../src/gateway/routes/connections';
import type { publicDelivery, publicExecution, publicLog } from '../../src/gateway/routes/executions';
import type { RunBuild } from '../../src/temporal/deployments';
import type { publicDefinition } from '../../src/gateway/routes/workflows';
import type { Role } from '../../src/shared/roles';
import type { RunState } from '../../src/shared/run';

/** A value as it comes out of JSON.stringify: Dates become strings. */
export type Json<T> = T extends Date ? string : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

export interface Session {
  name: string;
  role: Role;
  kind: 'key' | 'token';
}

export type Execution = Json<ReturnType<typeof publicExecution>>;
export type LogRow = Json<ReturnType<typeof publicLog>>;
export interface ExecutionDetail extends Execution {
  triggerData: Record<string, unknown>;
  temporalUiUrl: string;
  live: RunState | null;
  logs: LogRow[];
  /** The worker build that ran it, under Worker Versioning. */
  build: RunBuild | null;
}
/** A row of the delivery ledger, as a run's page lists what the run sent. */
export type RunDelivery = Json<ReturnType<typeof publicDelivery>>;
export interface RunDeliveries {
  executionId: string;
  items: RunDelivery[];
}
export interface ExecutionPage {
  items: Execution[];
  nextCursor: string | null;
}
export interface ReportFrame {
  from: string;
  to: string;
  definition?: string;
  asOf: string | null;
}
export type SummaryReport = ReportFrame & Summary;
export type DailyReport = ReportFrame & { items: DailyRow[] };
export type StepsReport = ReportFrame & { items: StepRow[] };
export type DeliveriesReport = ReportFrame & { items: DeliveryRow[] };
export type Preview = Json<BulkPreview>;
export type Batch = Json<BatchProgress>;

export type DefinitionSummary = Json<ReturnType<typeof publicDefinition>>;

export type Connection = Json<ConnectionAnswer>;
export type ConnectionCheck = Json<ConnectionCheckAnswer>;
export type ConnectionTypeInfo = Json<ReturnType<typeof connectionTypeViews>>['items'][number];

export interface DefinitionDetail extends DefinitionSummary {
  definition: { steps: StepDoc[]; inputSchema?: Record<string, unknown>; trigger?: { type: string; cron?: string } } & Record<string, unknown>;
  versions: { version: number; createdAt: string; createdBy: string | null }[];
  schedule?: { id: string; nextFireTimes: string[]; paused: boolean; lastFiredAt: string | null } | null;
}

/** A step of a definition document, as far as the console reads it. */
export interface StepDoc {
  id: string;
  type: string;
  name?: string;
  [field: string]: unknown;
}

/** A refusal from the gateway, with its code and the fields it names. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiProblem';
  }
}

export interface Api {
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  /** DELETE; an answer without a body resolves to undefined. */
  del(path: string, query?: Record<string, string | undefined>): Promise<void>;
}

export function createApi(key: string, onUnauthenticated: () => void): Api {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
      });
    } catch {
      throw new ApiProblem(0, 'unreachable', 'the gateway could not be reached; check the connection and try again');
    }
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const problem = (parsed ?? {}) as { code?: string; detail?: string; title?: string; errors?: { path: string; message: string }[] };
      if (res.status === 401) onUnauthenticated();
      throw new ApiProblem(res.status, problem.code ?? String(res.status), problem.detail ?? problem.title ?? res.statusText, problem.errors ?? []);
    }
    return parsed as T;
  }
  const withQuery = (path: string, query: Record<string, string | number | undefined>) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, String(value));
    return params.size ? `${path}?${params}` : path;
  };
  return {
    get: (path, query = {}) => call('GET', withQuery(path, query)),
    post: (path, body) => call('POST', path, body ?? {}),
    put: (path, body) => call('PUT', path, body),
    del: (path, query = {}) => call('DELETE', withQuery(path, query)),
  };
}
