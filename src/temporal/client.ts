/** Connecting to Temporal, and the server-side setup the product relies on. */
import { isIP } from 'node:net';
import { Client, Connection, type ConnectionOptions, defaultGrpcRetryOptions, isGrpcServiceError, makeGrpcRetryInterceptor } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { TemporalSettings } from '../config';
import type { Logger } from '../logger';
import { SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import { hostAndPort, temporalConnectionOptions } from './connection-options';
import { dataConverterFor } from './encryption';

// A CommonJS package whose named exports Node's ESM loader cannot see.
const { temporal } = proto;

export interface TemporalClient {
  connection: Connection;
  client: Client;
}

// gRPC status codes (@grpc/grpc-js is the SDK's dependency, not ours).
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/**
 * How long a call keeps retrying a Temporal it cannot reach before it fails:
 * a start sent while Temporal is away is answered `503 temporal_unavailable`
 * in about this, where the SDK's own retries take about 20 s.
 */
export const UNREACHABLE_RETRY_BUDGET_MS = 1_500;

/**
 * The longest wait between gRPC's attempts to reconnect to a Temporal that
 * went away (its default grows to 120 s), so a process is connected again
 * within seconds of Temporal's return.
 */
const MAX_RECONNECT_BACKOFF_MS = 5_000;

export interface ConnectOptions {
  /**
   * Fail calls to an unreachable Temporal after {@link UNREACHABLE_RETRY_BUDGET_MS}
   * rather than the SDK's 20 s of retries; other retryable failures keep the
   * SDK's retries. For the gateway, whose callers wait on the answer.
   * @default false
   */
  failFast?: boolean;
}

type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

function connectionOptions(config: Pick<TemporalSettings, 'temporal'>, { failFast = false }: ConnectOptions): ConnectionOptions {
  if (config.temporal.security?.tls && isIP(hostAndPort(config.temporal.address).host)) ignoreIpServerNameWarning();
  return {
    ...temporalConnectionOptions(config.temporal),
    connectTimeout: '5s',
    channelArgs: { 'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS },
    ...(failFast ? { interceptors: [failFastRetryInterceptor(UNREACHABLE_RETRY_BUDGET_MS)] } : {}),
  };
}

let ipServerNameWarningIgnored = false;

/**
 * Over TLS to an IP address, Node's HTTP/2 client (under gRPC) sends the IP
 * as the TLS server name and then warns, once, that RFC 6066 forbids it
 * (DEP0123; nodejs/node#56189). The server's certificate is still checked
 * against that IP, so the warning names nothing an operator can act on, yet
 * it went to stderr before a CLI command's own one-line answer. This drops
 * that one warning, and only in a process that connects that way.
 */
function ignoreIpServerNameWarning(): void {
  if (ipServerNameWarningIgnored) return;
  ipServerNameWarningIgnored = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, type, code] = args;
    const isIpServerName = code === 'DEP0123' || (typeof type === 'object' && type !== null && (type as { code?: unknown }).code === 'DEP0123');
    if (!isIpServerName) emitWarning(...args);
  }) as typeof process.emitWarning;
}

function clientOf(connection: Connection, config: Pick<TemporalSettings, 'temporal' | 'encryption'>): TemporalClient {
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config.encryption) });
  return { connection, client };
}

/** Connects now: fails when Temporal does not answer within 5 s. */
export async function connectTemporal(config: Pick<TemporalSettings, 'temporal' | 'encryption'>, options: ConnectOptions = {}): Promise<TemporalClient> {
  return clientOf(await Connection.connect(connectionOptions(config, options)), config);
}

/**
 * A client that connects on its first call and reconnects by itself after an
 * outage: a process holding it starts, and serves what needs no Temporal,
 * while Temporal is away. Watch it with {@link watchTemporal}.
 */
export function lazyTemporal(config: Pick<TemporalSettings, 'temporal' | 'encryption'>, options: ConnectOptions = {}): TemporalClient {
  return clientOf(Connection.lazy(connectionOptions(config, options)), config);
}

/**
 * The SDK's retries (same delays, same retryable codes), except that an
 * unreachable server is retried only until `budgetMs` after the call began.
 */
function failFastRetryInterceptor(budgetMs: number): GrpcInterceptor {
  const sdk = defaultGrpcRetryOptions();
  return (options, nextCall) => {
    const startedAt = Date.now();
    const left = () => startedAt + budgetMs - Date.now();
    return makeGrpcRetryInterceptor({
      retryableDecider: (attempt, status) => sdk.retryableDecider(attempt, status) && (status.code !== GRPC_UNAVAILABLE || left() > 0),
      delayFunction: (attempt, status) =>
        status.code === GRPC_UNAVAILABLE ? Math.min(sdk.delayFunction(attempt, status), Math.max(0, left())) : sdk.delayFunction(attempt, status),
    })(options, nextCall);
  };
}

/**
 * Whether `err` (or one of its causes) says Temporal could not be reached or
 * did not answer in time: a call's gRPC status, or a connection that could
 * not be made (the client's `Failed to connect before the deadline`, the
 * worker's native `TransportError`).
 */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e) && (e.code === GRPC_UNAVAILABLE || e.code === GRPC_DEADLINE_EXCEEDED)) return true;
    if (e instanceof Error && (e.name === 'TransportError' || /^Failed to connect before the deadline/.test(e.message))) return true;
  }
  return false;
}

// gRPC status codes of a refused credential.
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

/** TLS alerts a server sends when it refuses the client's certificate (rustls's names, the worker's native connection). */
const REFUSED_BY_SERVER: Record<string, string> = {
  UnknownCA: "the server does not trust the CA that signed this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)",
  BadCertificate: "the server refused this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)",
  CertificateUnknown: "the server refused this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)",
  CertificateExpired: "the server says this process's client certificate has expired (TEMPORAL_TLS_CLIENT_CERT_*)",
  CertificateRevoked: "the server says this process's client certificate is revoked (TEMPORAL_TLS_CLIENT_CERT_*)",
  CertificateRequired: 'the server requires a client certificate (mTLS): set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH',
  HandshakeFailure: 'the TLS handshake failed: the server and this process share no protocol version or cipher, or it wants a client certificate',
};

/** Why this process refused the server's certificate (rustls's names). */
const REFUSED_BY_CLIENT: Record<string, string> = {
  UnknownIssuer: "the server's certificate is not signed by a CA this process trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA",
  NotValidForName: "the server's certificate does not hold this address's host name: set TEMPORAL_TLS_SERVER_NAME to a name it holds",
  NotValidForNameContext: "the server's certificate does not hold this address's host name: set TEMPORAL_TLS_SERVER_NAME to a name it holds",
  Expired: "the server's certificate has expired",
  BadSignature: "the server's certificate has a bad signature",
};

/** The same, as OpenSSL words them (the client's connection, through grpc-js). */
const OPENSSL_REFUSALS: [RegExp, string][] = [
  [/alert unknown ca/, REFUSED_BY_SERVER.UnknownCA!],
  [/alert bad certificate|alert certificate unknown/, REFUSED_BY_SERVER.BadCertificate!],
  [/alert certificate expired/, REFUSED_BY_SERVER.CertificateExpired!],
  [/alert certificate required/, REFUSED_BY_SERVER.CertificateRequired!],
  [/unable to verify the first certificate|unable to get local issuer certificate|self[- ]signed certificate/, REFUSED_BY_CLIENT.UnknownIssuer!],
  [/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/, REFUSED_BY_CLIENT.NotValidForName!],
  [/certificate has expired/, REFUSED_BY_CLIENT.Expired!],
];

/**
 * What a connection refused by TLS or by the server's authentication says
 * went wrong, in a line naming the variables to fix; undefined for any other
 * failure (an unreachable server is retried, a refusal is not: certificates
 * do not fix themselves). Never repeats a credential.
 */
export function temporalRefusal(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e) && e.code === GRPC_UNAUTHENTICATED) return `the server refused this process's credentials (TEMPORAL_API_KEY or client certificate): ${e.details}`;
    if (isGrpcServiceError(e) && e.code === GRPC_PERMISSION_DENIED) return `the server denied access (TEMPORAL_API_KEY, client certificate or TEMPORAL_NAMESPACE): ${e.details}`;
    const message = e instanceof Error ? e.message : '';
    const alert = /received fatal alert: (\w+)/.exec(message)?.[1];
    if (alert) return REFUSED_BY_SERVER[alert] ?? `the server ended the TLS handshake (${alert})`;
    const invalid = /InvalidCertificate\((\w+)/.exec(message)?.[1];
    if (invalid) return REFUSED_BY_CLIENT[invalid] ?? `this process refused the server's certificate (${invalid})`;
    const openssl = OPENSSL_REFUSALS.find(([pattern]) => pattern.test(message));
    if (openssl) return openssl[1];
  }
  return undefined;
}

/** Temporal refused this process's connection (see {@link temporalRefusal}). */
export class TemporalRefusedError extends Error {
  constructor(address: string, reason: string) {
    super(`Temporal at ${address} refused the connection: ${reason}`);
    this.name = 'TemporalRefusedError';
  }
}

/**
 * Checks that Temporal answers, every `intervalMs` while it does and with a
 * backoff from 1 s to `intervalMs` while it does not, logging once per outage
 * (a warning when it goes away, a line when it is back), never per attempt.
 * The checks also keep the connection up, so the first call after an outage
 * finds it made. Answers a function that stops the watch.
 */
export function watchTemporal(
  { connection }: TemporalClient,
  { logger, address, intervalMs = 10_000 }: { logger: Logger; address: string; intervalMs?: number },
): () => void {
  let available: boolean | undefined;
  let downSince = 0;
  let backoffMs = 1_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      await connection.withDeadline(Date.now() + 5_000, () => connection.workflowService.getSystemInfo({}));
      if (available === false) logger.info({ address, downForMs: Date.now() - downSince }, `Temporal at ${address} answers again`);
      else if (available === undefined) logger.info({ address }, `connected to Temporal at ${address}`);
      available = true;
      backoffMs = 1_000;
    } catch (err) {
      if (available !== false) {
        downSince = Date.now();
        const refusal = temporalRefusal(err);
        logger.warn(
          { err, address },
          refusal
            ? `Temporal at ${address} refused the connection: ${refusal}; runs cannot start or change until it is fixed (503 temporal_unavailable); retrying`
            : `Temporal at ${address} does not answer: runs cannot start or change until it does (503 temporal_unavailable); retrying`,
        );
      }
      available = false;
      backoffMs = Math.min(backoffMs * 2, intervalMs);
    }
    if (!stopped) timer = setTimeout(() => void check(), available ? intervalMs : backoffMs).unref();
  };
  void check();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

const INDEXED_TYPE = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
} as const;

/**
 * Registers the product's custom search attributes in the namespace when they
 * are missing, so runs are findable in the Web UI on any server, not only on
 * a dev server started with `--search-attribute` flags. Idempotent.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]])),
    });
  } catch (err) {
    // Another process registering them at the same moment is fine.
    if (!/already exists/i.test(String(err))) throw err;
  }
  return missing.map((key) => key.name);
}

/** Readable, unique workflow id: the definition key, then the execution id. */
export function workflowIdFor(definitionKey: string, executionId: string): string {
  return `${definitionKey}-${executionId}`;
}
