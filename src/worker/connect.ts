/**
 * The worker's connections to Temporal, made however long Temporal is away:
 * a worker started before Temporal, or during an outage, waits for it and
 * starts polling once it answers, instead of exiting.
 */
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { temporalConnectionOptions } from '../temporal/connection-options';
import { tlsRefusalOf } from '../temporal/tls-probe';
import { connectTemporal, ensureSearchAttributes, isTemporalUnavailable, type TemporalClient, TemporalRefusedError, temporalRefusal } from '../temporal/client';

export interface WorkerConnections extends TemporalClient {
  /** What the worker polls through. */
  native: NativeConnection;
}

/** Waits between attempts: doubling from 1 s up to this. */
const MAX_BACKOFF_MS = 15_000;

/**
 * Connects (client and native connection) and registers the search
 * attributes, retrying with backoff while Temporal cannot be reached; logs
 * one warning for the wait and one line when connected. A refused certificate
 * or key is thrown as a {@link TemporalRefusedError}, and any other failure (a
 * refused search-attribute registration, say) as it is. Resolves undefined
 * when `signal` aborts first.
 */
export async function connectWorker(config: Config, logger: Logger, signal: AbortSignal): Promise<WorkerConnections | undefined> {
  const address = config.temporal.address;
  let backoffMs = 1_000;
  let waitingSince: number | undefined;
  while (!signal.aborted) {
    try {
      const connections = await connectOnce(config);
      if (waitingSince !== undefined) logger.info({ address, waitedMs: Date.now() - waitingSince }, `connected to Temporal at ${address}`);
      return connections;
    } catch (err) {
      // A closed connection may hide a refused certificate (see tls-probe.ts): the server says which.
      const tls = config.temporal.security.tls;
      const refusal = temporalRefusal(err) ?? (tls && isTemporalUnavailable(err) ? await tlsRefusalOf(address, tls) : undefined);
      if (refusal) throw new TemporalRefusedError(address, refusal);
      if (!isTemporalUnavailable(err)) throw err;
      if (waitingSince === undefined) {
        waitingSince = Date.now();
        logger.warn({ err, address }, `Temporal at ${address} does not answer; the worker waits for it, retrying up to every ${MAX_BACKOFF_MS / 1000} s`);
      }
    }
    await delay(backoffMs, signal);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  }
  return undefined;
}

async function connectOnce(config: Config): Promise<WorkerConnections> {
  // The native connection first: it fails at once when nothing listens, where the client waits out its timeout.
  const native = await NativeConnection.connect(temporalConnectionOptions(config.temporal));
  try {
    const temporal = await connectTemporal(config);
    try {
      await ensureSearchAttributes(temporal.connection, config.temporal.namespace);
      return { ...temporal, native };
    } catch (err) {
      await temporal.connection.close();
      throw err;
    }
  } catch (err) {
    await native.close();
    throw err;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
