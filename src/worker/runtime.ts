/** Sends the Temporal SDK's own log lines (worker, workflow and activity loggers) through pino. */
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

/** Installs the SDK runtime once per process, logging through `logger`. */
export function installRuntime(logger: Logger): void {
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
  try {
    Runtime.install({ logger: sdkLogger });
  } catch {
    // A runtime already exists in this process (it is created on first use); keep it.
  }
}
