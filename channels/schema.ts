/**
 * What a notification channel declares for the definition language: its
 * step's own fields (src/shared/definition.ts adds those every message step
 * has: `delivery`, `quietHours`, `retry`, …) and checks across them; and the
 * helpers its activity's input is made with, from the same fields, so their
 * limits are written once. Workflow-safe, but not bundled into the workflow
 * (zod): the registry of these is channels/schemas.ts.
 */
import { z } from 'zod';
import { connectionName } from './connection';

/** What a notification step does when an earlier attempt may already have delivered. */
export const DELIVERY_POLICIES = ['at-least-once', 'at-most-once'] as const;

/** The parsed value of a step's own fields. */
export type StepFields<F extends z.ZodRawShape> = z.output<z.ZodObject<F>>;

export interface ChannelSchema<F extends z.ZodRawShape> {
  /** The step's own fields, after those of every message step. */
  fields: F;
  /** Checks across fields, on the parsed step (e.g. an email needs text or html). */
  check?: (step: StepFields<F>, ctx: z.RefinementCtx) => void;
}

/** Any channel's schema, where code handles each the same way (the registry). */
// `any`: each channel's fields differ; its own declaration keeps them typed.
export type AnyChannelSchema = { fields: z.ZodRawShape; check?: (step: any, ctx: z.RefinementCtx) => void };

/** Fields every message activity takes around the channel's own: the ledger's key and the step's delivery policy. */
export const deliveryKeyInput = z.string().min(1);
export const deliveryPolicyInput = z.enum(DELIVERY_POLICIES).default('at-least-once');

/**
 * A message activity's input made of its step's fields: the delivery key, the
 * fields, the delivery policy, the connection.
 */
export function messageInput<F extends z.ZodRawShape>(fields: F) {
  return z.object({ deliveryKey: deliveryKeyInput, ...fields, delivery: deliveryPolicyInput, connection: connectionInput });
}

/** The connection a step names, opened by its sender; none: the channel's settings from the environment. */
export const connectionInput = connectionName.optional();
