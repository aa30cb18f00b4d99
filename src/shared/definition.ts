/**
 * The workflow definition language: what users write, validated by zod, and
 * the type the interpreter walks. Workflow-safe (no Node built-ins).
 *
 * A step is a discriminated union on `type`. Adding a step type means: its
 * schema here, its handler under `workflows/steps/`, and — when it has side
 * effects — its activity under `activities/`.
 */
import { z } from 'zod';
import { parseDuration } from './duration';
import { compileExpression, ExpressionError, templateExpressions } from './expressions';

export const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const DEFINITION_KEY = /^[a-z0-9][a-z0-9-]{0,62}$/;

const expression = z.string().min(1, 'expression must not be empty');

const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  message: 'must be a duration such as 500ms, 30s, 5m, 2h, 3d or 1h30m',
});

export const retryPolicySchema = z
  .object({
    maximumAttempts: z.number().int().min(1).max(100).optional(),
    initialInterval: duration.optional(),
    backoffCoefficient: z.number().min(1).max(10).optional(),
    maximumInterval: duration.optional(),
    nonRetryableErrorTypes: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type RetryPolicy = z.infer<typeof retryPolicySchema>;

const stepBase = {
  id: z.string().regex(STEP_ID, 'must start with a letter and contain only letters, digits, - and _ (at most 64)'),
  name: z.string().max(200).optional(),
  /** Guard: the step runs only when this expression is truthy. */
  if: expression.optional(),
};

/** Fields of steps that run an activity. */
const activityStepBase = {
  ...stepBase,
  retry: retryPolicySchema.optional(),
  /** Start-to-close timeout of one attempt. */
  timeout: duration.optional(),
};

/** What a notification step does when an earlier attempt may already have delivered. */
export const DELIVERY_POLICIES = ['at-least-once', 'at-most-once'] as const;

/** Fields of steps that deliver a message through the delivery ledger. */
const notificationStepBase = {
  ...activityStepBase,
  /** @default 'at-least-once' */
  delivery: z.enum(DELIVERY_POLICIES).optional(),
};

const recipients = z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(100)]);

export const emailStepSchema = z
  .object({
    ...notificationStepBase,
    type: z.literal('email'),
    to: recipients,
    cc: recipients.optional(),
    bcc: recipients.optional(),
    replyTo: z.string().optional(),
    subject: z.string().min(1).max(998),
    text: z.string().optional(),
    html: z.string().optional(),
  })
  .strict()
  .refine((s) => s.text !== undefined || s.html !== undefined, {
    message: 'an email step needs text or html',
    path: ['text'],
  });

export const slackStepSchema = z
  .object({
    ...notificationStepBase,
    type: z.literal('slack'),
    /** Channel id or name; without it the configured incoming webhook is used. */
    channel: z.string().min(1).optional(),
    text: z.string().min(1).max(40_000),
  })
  .strict();

export const smsStepSchema = z
  .object({
    ...notificationStepBase,
    type: z.literal('sms'),
    /** E.164 phone number, e.g. +14155550123 (checked when the step runs, after templating). */
    to: z.string().min(1),
    body: z.string().min(1).max(1600),
  })
  .strict();

export const teamsStepSchema = z
  .object({
    ...notificationStepBase,
    type: z.literal('teams'),
    title: z.string().min(1).max(400).optional(),
    text: z.string().min(1).max(20_000),
    /** An Adaptive Card `body` array, replacing the title-and-text layout. */
    card: z.array(z.record(z.string(), z.unknown())).max(100).optional(),
  })
  .strict();

export const httpStepSchema = z
  .object({
    ...activityStepBase,
    type: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
    url: z.string().min(1),
    headers: z.record(z.string(), z.string()).optional(),
    /** Header name → name of a configured secret (HTTP_SECRET_<NAME>); the value never enters the run. */
    secretHeaders: z.record(z.string(), z.string().regex(/^[A-Z0-9_]+$/, 'must be a secret name like API_TOKEN')).optional(),
    /** JSON body (or a string); templates inside are rendered. */
    body: z.unknown().optional(),
  })
  .strict();

export const setStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('set'),
    /** Variable name → value; strings may hold `{{ … }}` expressions. */
    values: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'), z.unknown()),
  })
  .strict();

export const delayStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('delay'),
    duration,
  })
  .strict();

export interface ConditionStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  type: 'condition';
  condition: string;
  then: Step[];
  else?: Step[] | undefined;
}

export const conditionStepSchema: z.ZodType<ConditionStep> = z
  .object({
    ...stepBase,
    type: z.literal('condition'),
    condition: expression,
    get then() {
      return z.array(stepSchema);
    },
    get else() {
      return z.array(stepSchema).optional();
    },
  })
  .strict();

export type EmailStep = z.infer<typeof emailStepSchema>;
export type SlackStep = z.infer<typeof slackStepSchema>;
export type SmsStep = z.infer<typeof smsStepSchema>;
export type TeamsStep = z.infer<typeof teamsStepSchema>;
export type HttpStep = z.input<typeof httpStepSchema>;
export type SetStep = z.infer<typeof setStepSchema>;
export type DelayStep = z.infer<typeof delayStepSchema>;

export type Step = EmailStep | SlackStep | SmsStep | TeamsStep | HttpStep | SetStep | DelayStep | ConditionStep;
export type StepType = Step['type'];

const STEP_SCHEMAS = {
  email: emailStepSchema,
  slack: slackStepSchema,
  sms: smsStepSchema,
  teams: teamsStepSchema,
  http: httpStepSchema,
  set: setStepSchema,
  delay: delayStepSchema,
  condition: conditionStepSchema,
} as const satisfies Record<StepType, z.ZodType>;

export const STEP_TYPES = Object.keys(STEP_SCHEMAS) as StepType[];

/**
 * Dispatches on `type` first, so an unknown type is reported as such rather
 * than as a mismatch against every member of the union.
 */
export const stepSchema: z.ZodType<Step> = z.custom<Step>().superRefine((value, ctx) => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'a step must be an object' });
    return;
  }
  const type = (value as { type?: unknown }).type;
  const schema = typeof type === 'string' ? STEP_SCHEMAS[type as StepType] : undefined;
  if (!schema) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      message: `unknown step type ${JSON.stringify(type)}; expected one of ${STEP_TYPES.join(', ')}`,
    });
    return;
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path });
  }
});

export const triggerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('manual') }).strict(),
  z.object({ type: z.literal('webhook') }).strict(),
  z
    .object({
      type: z.literal('schedule'),
      cron: z.string().min(1),
      timezone: z.string().default('UTC'),
    })
    .strict(),
]);

export type Trigger = z.infer<typeof triggerSchema>;

export const definitionSchema = z
  .object({
    key: z.string().regex(DEFINITION_KEY, 'must be lower-case letters, digits and dashes (at most 63)'),
    name: z.string().min(1).max(200),
    description: z.string().max(4000).default(''),
    category: z.string().min(1).max(64).default('general'),
    enabled: z.boolean().default(true),
    templateKey: z.string().max(64).optional(),
    trigger: triggerSchema.default({ type: 'manual' }),
    /** JSON Schema that trigger data must satisfy. */
    inputSchema: z.record(z.string(), z.unknown()).optional(),
    steps: z.array(stepSchema).min(1, 'a definition needs at least one step').max(1000),
  })
  .strict()
  .superRefine((def, ctx) => {
    for (const problem of checkSteps(def.steps, ['steps'])) ctx.addIssue({ code: 'custom', ...problem });
  });

/** A definition as users write it (defaults not yet applied). */
export type DefinitionInput = z.input<typeof definitionSchema>;
/** A validated definition, defaults applied: what the interpreter runs. */
export type Definition = z.output<typeof definitionSchema>;

/** One problem found in a definition, with the JSON path of the offending field. */
export interface DefinitionProblem {
  path: (string | number)[];
  message: string;
}

/** Cross-step checks zod cannot express per field: unique ids, parseable expressions. */
function checkSteps(steps: Step[], basePath: (string | number)[]): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const seen = new Map<string, string>();
  const visit = (list: Step[], path: (string | number)[]) => {
    list.forEach((step, index) => {
      const at = [...path, index];
      const where = at.join('.');
      const earlier = seen.get(step.id);
      if (earlier) problems.push({ path: [...at, 'id'], message: `duplicate step id "${step.id}" (also at ${earlier})` });
      else seen.set(step.id, where);
      if (step.if !== undefined) problems.push(...checkExpression(step.if, [...at, 'if']));
      if (step.type === 'condition') {
        problems.push(...checkExpression(step.condition, [...at, 'condition']));
        visit(step.then, [...at, 'then']);
        if (step.else) visit(step.else, [...at, 'else']);
      }
      for (const [field, value] of Object.entries(step)) {
        if (field === 'if' || field === 'condition' || field === 'then' || field === 'else') continue;
        problems.push(...checkTemplates(value, [...at, field]));
      }
    });
  };
  visit(steps, basePath);
  return problems;
}

function checkExpression(source: string, path: (string | number)[]): DefinitionProblem[] {
  try {
    compileExpression(source);
    return [];
  } catch (err) {
    return [{ path, message: err instanceof ExpressionError ? err.message : String(err) }];
  }
}

function checkTemplates(value: unknown, path: (string | number)[]): DefinitionProblem[] {
  if (typeof value === 'string') {
    return templateExpressions(value).flatMap((expr) => checkExpression(expr, path));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => checkTemplates(v, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => checkTemplates(v, [...path, k]));
  }
  return [];
}

/** Parses a definition, returning either the definition or every problem with its path. */
export function parseDefinition(
  input: unknown,
): { ok: true; definition: Definition } | { ok: false; problems: DefinitionProblem[] } {
  const result = definitionSchema.safeParse(input);
  if (result.success) return { ok: true, definition: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
      message: issue.message,
    })),
  };
}

/** Every step of a definition, nested ones included, in document order. */
export function allSteps(steps: Step[]): Step[] {
  return steps.flatMap((s) => (s.type === 'condition' ? [s, ...allSteps(s.then), ...allSteps(s.else ?? [])] : [s]));
}
