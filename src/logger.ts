import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/** Paths pino blanks in every line: credentials never reach the logs. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-signature"]',
  'req.headers["webhook-signature"]',
  '*.password',
  '*.pass',
  '*.token',
  '*.secret',
  '*.authToken',
  '*.apiKey',
];

export function createLogger(config: Pick<Config, 'logLevel'>, name: string): Logger {
  return pino({ name, level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
