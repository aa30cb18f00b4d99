/**
 * What a connection type declares: the fields of a connection of that type,
 * split into settings (stored and shown as written) and secrets (sealed at
 * rest, never shown), and the step type that uses it. A channel's type lives
 * in its folder (channels/<name>/connection.ts); the registry is
 * ./connections.ts. Workflow-safe, but not bundled into the workflow (zod).
 *
 * A type's fields are named as the channel's settings in the configuration
 * (src/config.ts), so a step without a connection and one with a connection
 * reach the same sender with the same shape of settings.
 */
import { z } from 'zod';
import { isTimeZone } from '../src/shared/quiet-hours';
import { quietHoursWindow } from '../src/shared/quiet-hours-schema';

export interface ConnectionTypeDeclaration<T extends string, S extends z.ZodRawShape, K extends z.ZodRawShape> {
  /** The type's name, e.g. `smtp`, as connections are created with it. */
  type: T;
  /** The step type whose steps may name a connection of this type. */
  step: string;
  /** The type in prose. */
  label: string;
  /** Fields stored as written and shown to every reader. */
  settings: S;
  /** Fields sealed at rest and answered only as set or not set with a fingerprint. */
  secrets: K;
  /** Checks across fields, on the parsed settings and secrets together: each problem names its field. */
  check?: (fields: z.output<z.ZodObject<S>> & z.output<z.ZodObject<K>>) => FieldProblem[];
  /**
   * Whether `POST /api/connections/:name/test` can check a connection of this
   * type without sending anything; the sender's side says how (channels/connection-tests.ts).
   */
  checkable: boolean;
}

/** A field that does not fit the others, e.g. `{ field: 'user', message: 'is required with pass' }`. */
export interface FieldProblem {
  field: string;
  message: string;
}

// `any`: each type's fields differ; its own declaration keeps them typed.
export type AnyConnectionType = ConnectionTypeDeclaration<string, any, any>;

export function defineConnectionType<const T extends string, S extends z.ZodRawShape, K extends z.ZodRawShape>(
  declaration: ConnectionTypeDeclaration<T, S, K>,
): ConnectionTypeDeclaration<T, S, K> {
  return declaration;
}

/**
 * A connection's quiet hours: a daily window, in one fixed time zone (a
 * Twilio number's region, an on-call team's office), during which its sends
 * wait. As a step's `quietHours` (src/shared/definition.ts), but the zone is
 * written out, never a template: a connection knows no run's data.
 */
export const connectionQuietHours = quietHoursWindow(isTimeZone);

/**
 * The settings every channel's connection type takes besides its own (spread
 * into its `settings`): when its sends may go out. With `perMinute`, a
 * connection's sends take slots of its own budget, at most that many a
 * minute (0: unpaced), instead of their channel's
 * (`PACING_<CHANNEL>_PER_MINUTE`), as a provider limits each account or
 * number apart. With `quietHours`, a send through it that comes inside the
 * window waits until the window ends, besides the step's own quiet hours.
 * Not settings of the sender: activities/connections.ts leaves them out of
 * the settings a send gets, and activities/pacing.ts applies them.
 */
export const PACING_SETTINGS = {
  perMinute: z
    .int({ error: 'must be a whole number of sends a minute' })
    .min(0)
    .max(100_000)
    .meta({ description: "sends a minute on this connection's own budget (0: unpaced); left out: the channel's pacing" })
    .optional(),
  quietHours: connectionQuietHours
    .meta({
      description: 'a daily window, in that time zone, during which sends through this connection wait until it ends; left out: none',
      examples: [{ start: '21:00', end: '08:00', timeZone: 'Europe/Berlin' }],
    })
    .optional(),
};

/** An http(s) URL, as connections take them. */
export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' });

/** A secret's text: not empty, without surrounding space (a pasted newline is a common mistake). */
export const secretText = z
  .string()
  .min(1, 'must not be empty')
  .max(10_000)
  .refine((v) => v.trim() === v, { message: 'must not begin or end with spaces or line breaks' });

/** A connection's name, as steps name it: `ops-teams`, `billing.smtp`. */
export const CONNECTION_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const connectionName = z.string().regex(CONNECTION_NAME, 'must be a connection name: lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit (at most 100)');
