/**
 * What a notification channel declares for the interpreter: the activity that
 * sends and how its step becomes that activity's input. Its step's schema is
 * declared beside it (channels/<type>/schema.ts, see ./schema.ts), apart
 * from this, since the workflow bundle leaves zod out.
 *
 * Every channel's sends go through the delivery ledger and take a slot of its
 * pacing first, which `PACING_<TYPE>_PER_MINUTE` sets (0, the default, leaves
 * the channel unpaced). Workflow-safe, and without zod.
 */

export interface ChannelDeclaration<T extends string, S, A extends string> {
  /** The step's `type`, also the channel's name in the ledger, pacing, the outbox and `PACING_<TYPE>_PER_MINUTE`. */
  type: T;
  /** The channel's name in prose, e.g. `Microsoft Teams`. */
  label: string;
  /** The activity that sends, e.g. `sendTeams`: its name is in recorded histories and must never change. */
  activity: A;
  /** What the activity does, the default summary of its step in the Temporal UI, e.g. `post to Teams`. */
  summary: string;
  /** The fields rendered from the step and passed to the activity, in this order. */
  message: (step: S) => Record<string, unknown>;
  /** Input the activity takes besides the message, computed from the step as written (never templated). */
  extra?: (step: S & { timeout?: string | undefined }) => Record<string, unknown>;
}

/** Any channel, where code handles each the same way (the registry's maps, the generic handler). */
// `any`: each channel's step differs; its own declaration keeps it typed.
export type AnyChannel = ChannelDeclaration<string, any, string>;

/** Declares a channel, keeping its literal types for the registry. */
export function defineChannel<const T extends string, S, const A extends string>(channel: ChannelDeclaration<T, S, A>): ChannelDeclaration<T, S, A> {
  return channel;
}
