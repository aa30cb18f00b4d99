/**
 * The Temporal SDK's runtime: its own log lines (worker, workflow and activity
 * loggers) go through pino, and its metrics, when asked, to Prometheus.
 */
import { IllegalStateError } from '@temporalio/common';
import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../logger';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let installed = false;

export interface RuntimeOptions {
  /**
   * `host:port` where the SDK serves its metrics (`temporal_…`: polls, task
   * latencies, slots, workflow completions) at `/metrics` for Prometheus.
   * @default off
   */
  metricsAddress?: string | undefined;
}

/** Installs the SDK runtime once per process, logging through `logger`. */
export function installRuntime(logger: Logger, { metricsAddress }: RuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const sdkLogger = {
    log: (level: LogLevel, message: string, meta?: LogMetadata) => logger[LEVELS[level]]({ ...meta }, message),
    trace: (message: string, meta?: LogMetadata) => logger.trace({ ...meta }, message),
    debug: (message: string, meta?: LogMetadata) => logger.debug({ ...meta }, message),
    info: (message: string, meta?: LogMetadata) => logger.info({ ...meta }, message),
    warn: (message: string, meta?: LogMetadata) => logger.warn({ ...meta }, message),
    error: (message: string, meta?: LogMetadata) => logger.error({ ...meta }, message),
  };
  const telemetryOptions = metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : undefined;
  try {
    Runtime.install({ logger: sdkLogger, ...(telemetryOptions ? { telemetryOptions } : {}) });
  } catch (err) {
    // A runtime already exists in this process (it is created on first use); keep it.
    // Anything else, such as a metrics address already in use, stops the start.
    if (!(err instanceof IllegalStateError)) throw err;
    if (metricsAddress) logger.warn({ err }, 'the Temporal runtime was already installed: SDK metrics are not served');
  }
}
