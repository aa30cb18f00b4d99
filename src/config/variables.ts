/**
 * How a variable's text is read: the zod schemas the settings share (switches,
 * whole numbers, optional strings and URLs, lists) and the error a
 * configuration that cannot run raises.
 */
import { z } from 'zod';

export type Environment = Readonly<Record<string, string | undefined>>;

/** Raised when the environment does not describe a runnable configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      error: 'must be one of true, false, 1, 0, yes, no',
    })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** Empty strings in a `.env` file mean "not set". */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** A switch whose default depends on other settings: undefined when not set. */
export const optionalBool = optionalString
  .refine((v) => v === undefined || ['true', 'false', '1', '0', 'yes', 'no'].includes(v), {
    message: 'must be one of true, false, 1, 0, yes, no',
  })
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

export const optionalUrl = (protocols: string[]) =>
  optionalString.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

export const optionalHttpUrl = optionalUrl(['http:', 'https:']);

/** A comma-separated list, entries trimmed, empty ones dropped. */
export function list(value: string | undefined): readonly string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}
