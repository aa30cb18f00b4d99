/**
 * The registry of connection types: one line per type. A channel's type lives
 * in its folder (channels/<name>/connection.ts); `http` is the `http` step's.
 * The API's checks of a connection's fields and of the steps that name one
 * follow from it. Workflow-safe, but not bundled into the workflow (zod).
 */
import { z } from 'zod';
import { httpConnection } from '../src/shared/http-connection';
import type { AnyConnectionType } from './connection';
import { smtpConnection } from './email/connection';
import { pagerDutyConnection } from './pagerduty/connection';
import { slackConnection } from './slack/connection';
import { twilioConnection } from './sms/connection';
import { teamsConnection } from './teams/connection';

export const CONNECTION_TYPES = {
  smtp: smtpConnection,
  slack: slackConnection,
  twilio: twilioConnection,
  teams: teamsConnection,
  pagerduty: pagerDutyConnection,
  http: httpConnection,
} as const satisfies Record<string, AnyConnectionType>;

export type ConnectionTypes = typeof CONNECTION_TYPES;
export type ConnectionType = keyof ConnectionTypes;
export const CONNECTION_TYPE_NAMES = Object.keys(CONNECTION_TYPES) as ConnectionType[];

export function isConnectionType(type: string): type is ConnectionType {
  return Object.hasOwn(CONNECTION_TYPES, type);
}

/** The connection type a step of `stepType` may name, if any. */
export function connectionTypeForStep(stepType: string): ConnectionType | undefined {
  return CONNECTION_TYPE_NAMES.find((type) => CONNECTION_TYPES[type].step === stepType);
}

/** A connection's fields of its type, settings and secrets together, parsed. */
export type ConnectionFields<T extends ConnectionType> = z.output<z.ZodObject<ConnectionTypes[T]['settings']>> &
  z.output<z.ZodObject<ConnectionTypes[T]['secrets']>>;

/**
 * The schema of a connection's fields as the API takes them: `settings` and
 * `secrets` objects, each strict, checked together by the type's check.
 */
export function connectionFieldsSchema(type: ConnectionType) {
  const declaration: AnyConnectionType = CONNECTION_TYPES[type];
  return z
    .object({ settings: z.object(declaration.settings).strict().default({}), secrets: z.object(declaration.secrets).strict().default({}) })
    .superRefine((value, ctx) => {
      for (const problem of declaration.check?.({ ...value.settings, ...value.secrets }) ?? []) {
        const where = Object.hasOwn(declaration.secrets, problem.field) ? 'secrets' : 'settings';
        ctx.addIssue({ code: 'custom', path: [where, problem.field], message: problem.message });
      }
    });
}
