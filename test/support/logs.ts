/** A logger that keeps what it writes, for tests that check log lines. */
import { Writable } from 'node:stream';
import { type Level, pino } from 'pino';
import { REDACT_PATHS } from '../../src/logger';

/** A pino logger keeping every line it writes, parsed, at `level` and above; it blanks what the gateway's logger blanks. */
export function memoryLogger(level: Level = 'info') {
  const lines: Record<string, any>[] = [];
  const logger = pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    }),
  );
  return { logger, lines };
}
