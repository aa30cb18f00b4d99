/**
 * The workflow definition language: what users write, validated by zod, and
 * the type the interpreter walks. Workflow-safe (no Node built-ins).
 *
 * A step is a discriminated union on `type`. Adding a step type means: its
 * schema here, its handler under `workflows/steps/`, and — when it has side
 * effects — its activity under `activities/`. A notification channel is
 * declared in its own folder under `channels/` instead, and its step follows
 * from the registry there (`channels/index.ts`).
 */
import { z } from 'zod';
import { parseDuration } from './duration';
import { issueMessage } from './issue-messages';
import { isTimeZone } from './quiet-hours';
import { quietHoursWindow } from './quiet-hours-schema';
import { type Role, ROLES } from './roles';
import { SECRET_NAME } from './step-fields';
import { RUN_VERSIONING } from './versioning';
import { allSteps, childStepLists } from './step-tree';
import { checkStepExpressions, duplicateIds, unknownStepReferences, writtenRecipientProblems } from './definition-checks';
import type { ChannelType } from '../../channels';
import { connectionName } from '../../channels/connection';
import { type ChannelSchema, DELIVERY_POLICIES, type StepFields } from '../../channels/schema';
import { CHANNEL_SCHEMAS, type ChannelSchemas } from '../../channels/schemas';

export { allSteps, childStepLists, DELIVERY_POLICIES };
export { HEADER_NAME, SECRET_NAME } from './step-fields';

export const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const DEFINITION_KEY = /^[a-z0-9][a-z0-9-]{0,62}$/;

const expression = z.string().min(1, 'expression must not be empty');

const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  message: 'must be a duration such as 500ms, 30s, 5m, 2h, 3d or 1h30m',
});

/** A run's deadline: a duration of at least a second (Temporal's workflow execution timeout). */
export const runTimeoutSchema = duration.refine((v) => (parseDuration(v) ?? 0) >= 1000, { message: 'must be at least 1s' });

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

/**
 * What happens when a step fails: `fail` the run (the default), `continue`
 * with the next step, or run `compensate` steps and then fail the run.
 */
export type OnError = 'fail' | 'continue' | { compensate: Step[] };

/** Dispatches on the value's shape, so a bad compensation step is reported at its own path. */
const onErrorSchema: z.ZodType<OnError, unknown> = z.unknown().transform((value, ctx): OnError => {
  const schema =
    typeof value === 'string'
      ? z.enum(['fail', 'continue'], { error: 'must be "fail", "continue" or { "compensate": [steps] }' })
      : z.object({ compensate: z.array(stepSchema).min(1) }, { error: 'must be "fail", "continue" or { "compensate": [steps] }' }).strict();
  const result = schema.safeParse(value, { error: issueMessage });
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path });
    return z.NEVER;
  }
  return result.data;
});

const stepBase = {
  id: z.string().regex(STEP_ID, 'must start with a letter and contain only letters, digits, - and _ (at most 64)'),
  name: z.string().max(200).optional(),
  /** Guard: the step runs only when this expression is truthy. */
  if: expression.optional(),
  /** @default 'fail' */
  onError: onErrorSchema.optional(),
};

/** Fields of steps that run an activity. */
const activityStepBase = {
  ...stepBase,
  retry: retryPolicySchema.optional(),
  /** Start-to-close timeout of one attempt. */
  timeout: duration.optional(),
};

/** Fields of steps that deliver a message through the delivery ledger. */
const notificationStepBase = {
  ...activityStepBase,
  /** @default 'at-least-once' */
  delivery: z.enum(DELIVERY_POLICIES).optional(),
};

/**
 * A daily window in the recipient's time zone during which the message waits
 * (on a durable timer) instead of going out. `timeZone` may be a template,
 * e.g. `{{ input.customer.timeZone }}`; a literal zone is checked at save time.
 */
export const quietHoursSchema = quietHoursWindow((zone) => zone.includes('{{') || isTimeZone(zone));

/** Fields of steps that send a message to a person or a channel. */
const messageStepBase = {
  ...notificationStepBase,
  quietHours: quietHoursSchema.optional(),
  /**
   * The connection the step sends through (`POST /api/connections`), of its
   * channel's type; without one, the channel's settings from the environment.
   * The run holds only this name: the sender opens the connection at send time.
   */
  connection: connectionName.optional(),
};

/**
 * The step of a notification channel: the fields of every message step, then
 * the channel's own (channels/<type>/schema.ts).
 */
function channelStepSchema<const T extends string, F extends z.ZodRawShape>(type: T, channel: ChannelSchema<F>) {
  const schema = z.object({ ...messageStepBase, type: z.literal(type), ...channel.fields }).strict();
  const check = channel.check;
  return check ? schema.superRefine((step, ctx) => check(step as StepFields<F>, ctx)) : schema;
}

type ChannelStepSchemas = { [K in ChannelType]: ReturnType<typeof channelStepSchema<K, ChannelSchemas[K]['fields']>> };

/** Each channel's step schema, by type, in the registry's order. */
const CHANNEL_STEP_SCHEMAS = Object.fromEntries(
  Object.entries(CHANNEL_SCHEMAS).map(([type, channel]) => [type, channelStepSchema(type, channel as ChannelSchema<z.ZodRawShape>)]),
) as ChannelStepSchemas;

/** One form field's value, as written in a definition. */
const formValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const httpStepSchema = z
  .object({
    ...activityStepBase,
    type: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
    url: z.string().min(1),
    headers: z.record(z.string(), z.string()).optional(),
    /** An `http` connection whose credentials the request carries (and whose base URL, if any, it must stay under). */
    connection: connectionName.optional(),
    /** Header name → name of a configured secret (HTTP_SECRET_<NAME>); the value never enters the run. */
    secretHeaders: z.record(z.string(), z.string().regex(SECRET_NAME, 'must be a secret name like API_TOKEN')).optional(),
    /** JSON body (or a string); templates inside are rendered. */
    body: z.unknown().optional(),
    /**
     * Or: fields sent form-encoded (`application/x-www-form-urlencoded`). Values
     * are text, numbers, booleans or lists of them (the field repeated); templates
     * are rendered, and a field whose value is null is left out.
     */
    form: z
      .record(
        z.string().min(1).max(256),
        z.union([formValue, z.array(formValue).max(1000)], { error: 'must be text, a number, true/false, null or a list of them' }),
        { error: (issue) => (issue.code === 'invalid_key' ? 'must be a field name of 1 to 256 characters' : 'must be an object of field → value') },
      )
      .optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (step.form === undefined) return;
    if (step.body !== undefined) ctx.addIssue({ code: 'custom', path: ['form'], message: 'an http step takes body or form, not both' });
    if (step.method === 'GET' || step.method === 'HEAD') {
      ctx.addIssue({ code: 'custom', path: ['form'], message: `a ${step.method} request sends no body: use POST, PUT, PATCH or DELETE with form` });
    }
  });

/** A column name in a database step: a plain identifier, never SQL text. */
const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a column name: letters, digits, _ and $ (at most 63)');

/** Column → value; values may hold `{{ … }}` templates and are always sent as query parameters. */
const columnValues = z
  .record(columnName, z.unknown())
  .refine((v) => Object.keys(v).length > 0, { message: 'needs at least one column' })
  .refine((v) => Object.keys(v).length <= 200, { message: 'at most 200 columns' });

const dataStepFields = {
  /** `table` (schema public) or `schema.table`; must be listed in the service's DATA_TABLES. */
  table: z
    .string()
    .regex(/^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a table name: table or schema.table (letters, digits, _ and $)'),
  values: columnValues,
  /** Columns of the written rows to return in the output's `rows`. */
  returning: z.array(columnName).min(1).max(100).optional(),
};

export const dbInsertStepSchema = z
  .object({
    ...notificationStepBase,
    type: z.literal('db_insert'),
    ...dataStepFields,
  })
  .strict();

export const dbUpdateStepSchema = z
  .object({
    ...activityStepBase,
    type: z.literal('db_update'),
    ...dataStepFields,
    /** Column → value the rows must equal (null matches NULL); required, so no update touches every row. */
    where: columnValues,
  })
  .strict();

export const failStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('fail'),
    /** Why the run fails; may hold `{{ … }}` expressions. */
    message: z.string().min(1).max(2000),
  })
  .strict();

export const succeedStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('succeed'),
    /** Values for the run's result; strings may hold `{{ … }}` expressions. */
    output: z.unknown().optional(),
  })
  .strict();

export const waitForSignalStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('wait_for_signal'),
    /** The event's name, sent with `POST /api/executions/:id/signal`. */
    signal: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be a name of letters, digits, _, . and -'),
    /** How long to wait before `onTimeout` runs. */
    timeout: duration,
    get onTimeout() {
      return z.array(stepSchema).optional();
    },
  })
  .strict();

export const callStepSchema = z
  .object({
    ...stepBase,
    type: z.literal('call'),
    /** Key of the definition to run as a child workflow, at its current version when the step starts. */
    definition: z.string().regex(DEFINITION_KEY, 'must be the key of a definition'),
    /** The child's trigger data; strings may hold `{{ … }}` expressions. */
    input: z.record(z.string(), z.unknown()).optional(),
    /** Wait for the child and take its result as output (default), or start it and go on. */
    wait: z.boolean().optional(),
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
    /** How long to wait. */
    duration: duration.optional(),
    /** Or: an expression giving the moment to wait until (ISO 8601 text or epoch milliseconds), e.g. `input.dueDate`. */
    until: expression.optional(),
  })
  .strict()
  .refine((s) => (s.duration === undefined) !== (s.until === undefined), {
    message: 'a delay needs either duration or until, not both',
    path: ['duration'],
  });

export interface ConditionStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
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

export interface SwitchStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
  type: 'switch';
  value: string;
  cases: { equals: unknown; steps: Step[] }[];
  default?: Step[] | undefined;
}

export const switchStepSchema: z.ZodType<SwitchStep> = z
  .object({
    ...stepBase,
    type: z.literal('switch'),
    /** Expression whose value picks the case. */
    value: expression,
    get cases() {
      return z.array(z.object({ equals: z.unknown(), steps: z.array(stepSchema) }).strict()).min(1).max(100);
    },
    get default() {
      return z.array(stepSchema).optional();
    },
  })
  .strict();

export interface ParallelStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
  type: 'parallel';
  /** `all` waits for every branch; `first` takes the first to finish and cancels the rest. */
  mode?: 'all' | 'first' | undefined;
  branches: Step[][];
}

export const parallelStepSchema: z.ZodType<ParallelStep> = z
  .object({
    ...stepBase,
    type: z.literal('parallel'),
    mode: z.enum(['all', 'first']).optional(),
    get branches() {
      return z.array(z.array(stepSchema).min(1)).min(2).max(20);
    },
  })
  .strict();

export interface ForeachStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
  type: 'foreach';
  /** Expression giving the list; each iteration sees `loop.item` and `loop.index`. */
  items: string;
  /** The most items the list may hold; a longer list fails the step. Required: no loop is unbounded. */
  maxItems: number;
  /** Iterations running at once. @default 1 */
  concurrency?: number | undefined;
  steps: Step[];
}

/** The largest `maxItems` a definition may declare. */
export const FOREACH_MAX_ITEMS = 100_000;

export const foreachStepSchema: z.ZodType<ForeachStep> = z
  .object({
    ...stepBase,
    type: z.literal('foreach'),
    items: expression,
    maxItems: z
      .number({ error: `a foreach needs maxItems (at most ${FOREACH_MAX_ITEMS}): no loop may be unbounded` })
      .int()
      .min(1)
      .max(FOREACH_MAX_ITEMS),
    concurrency: z.number().int().min(1).max(100).optional(),
    get steps() {
      return z.array(stepSchema).min(1);
    },
  })
  .strict();

export interface ApprovalStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
  type: 'approval';
  /** Who may decide, by name (an API key's name, or the `by` an operator acts for). */
  approvers?: string[] | undefined;
  /** Or: any caller whose API key has at least this role. */
  role?: Role | undefined;
  /** Approvals needed; one rejection decides against. @default 1 */
  required?: number | undefined;
  /** Rungs of the ladder: after each duration (from the step's start) its steps run, e.g. notify the next level. */
  escalation?: { after: string; steps: Step[] }[] | undefined;
  /** When nobody has decided by then, the run decides on its own. */
  timeout: string;
  /** The decision taken at the timeout: approve, reject, or fail the step. */
  onTimeout: 'approve' | 'reject' | 'fail';
}

export const approvalStepSchema: z.ZodType<ApprovalStep> = z
  .object({
    ...stepBase,
    type: z.literal('approval'),
    approvers: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
    role: z.enum(ROLES).optional(),
    required: z.number().int().min(1).max(100).optional(),
    get escalation() {
      return z.array(z.object({ after: duration, steps: z.array(stepSchema).min(1) }).strict()).max(10).optional();
    },
    timeout: duration,
    onTimeout: z.enum(['approve', 'reject', 'fail']),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (!step.approvers && !step.role) {
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'say who may decide: approvers (names) or role' });
    }
    if (step.approvers && step.required !== undefined && step.required > step.approvers.length) {
      ctx.addIssue({ code: 'custom', path: ['required'], message: `needs ${step.required} approvals but names only ${step.approvers.length} approvers` });
    }
    const timeoutMs = parseDuration(step.timeout) ?? 0;
    let previous = 0;
    (step.escalation ?? []).forEach((rung, i) => {
      const at = parseDuration(rung.after) ?? 0;
      if (at <= previous) ctx.addIssue({ code: 'custom', path: ['escalation', i, 'after'], message: 'rungs must come later one after another' });
      if (at >= timeoutMs) ctx.addIssue({ code: 'custom', path: ['escalation', i, 'after'], message: 'must come before the timeout' });
      previous = at;
    });
  });

/** The step of each notification channel, by type. */
export type ChannelSteps = { [K in ChannelType]: z.infer<ChannelStepSchemas[K]> };
/** A step of any notification channel. */
export type ChannelStep = ChannelSteps[ChannelType];
export type EmailStep = ChannelSteps['email'];
export type SlackStep = ChannelSteps['slack'];
export type SmsStep = ChannelSteps['sms'];
export type QuietHoursSetting = z.infer<typeof quietHoursSchema>;
export type TeamsStep = ChannelSteps['teams'];
export type CallStep = z.infer<typeof callStepSchema>;
export type HttpStep = z.infer<typeof httpStepSchema>;
export type DbInsertStep = z.infer<typeof dbInsertStepSchema>;
export type DbUpdateStep = z.infer<typeof dbUpdateStepSchema>;
export type SetStep = z.infer<typeof setStepSchema>;
export type DelayStep = z.infer<typeof delayStepSchema>;
export type FailStep = z.infer<typeof failStepSchema>;
export type SucceedStep = z.infer<typeof succeedStepSchema>;
export interface WaitForSignalStep {
  id: string;
  name?: string | undefined;
  if?: string | undefined;
  onError?: OnError | undefined;
  type: 'wait_for_signal';
  signal: string;
  timeout: string;
  onTimeout?: Step[] | undefined;
}

export type Step =
  | ChannelStep
  | HttpStep
  | SetStep
  | DelayStep
  | ConditionStep
  | SwitchStep
  | ParallelStep
  | ForeachStep
  | ApprovalStep
  | CallStep
  | WaitForSignalStep
  | FailStep
  | SucceedStep
  | DbInsertStep
  | DbUpdateStep;
export type StepType = Step['type'];

/** Each step type's schema, by type, in the order the language lists them. */
export const STEP_SCHEMAS = {
  ...CHANNEL_STEP_SCHEMAS,
  http: httpStepSchema,
  set: setStepSchema,
  delay: delayStepSchema,
  condition: conditionStepSchema,
  switch: switchStepSchema,
  parallel: parallelStepSchema,
  foreach: foreachStepSchema,
  approval: approvalStepSchema,
  call: callStepSchema,
  wait_for_signal: waitForSignalStepSchema,
  fail: failStepSchema,
  succeed: succeedStepSchema,
  db_insert: dbInsertStepSchema,
  db_update: dbUpdateStepSchema,
} as const satisfies Record<StepType, z.ZodType>;

export const STEP_TYPES = Object.keys(STEP_SCHEMAS) as StepType[];

/**
 * Dispatches on `type` first, so an unknown type is reported as such rather
 * than as a mismatch against every member of the union.
 */
export const stepSchema: z.ZodType<Step, unknown> = z.unknown().transform((value, ctx): Step => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'a step must be an object' });
    return z.NEVER;
  }
  const type = 'type' in value ? value.type : undefined;
  const schema = typeof type === 'string' && Object.hasOwn(STEP_SCHEMAS, type) ? STEP_SCHEMAS[type as StepType] : undefined;
  if (!schema) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      message: `unknown step type ${JSON.stringify(type)}; expected one of ${STEP_TYPES.join(', ')}`,
    });
    return z.NEVER;
  }
  const result = schema.safeParse(value, { error: issueMessage });
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path });
    return z.NEVER;
  }
  // The schema for this `type` produced it, so it is that member of the union.
  const step = result.data as Step;
  const problems = checkStepExpressions(step);
  if (problems.length > 0) {
    for (const problem of problems) ctx.addIssue({ code: 'custom', ...problem });
    return z.NEVER;
  }
  return step;
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
    /**
     * A run's deadline: a run not finished by then ends TIMED_OUT (Temporal's
     * workflow execution timeout, continue-as-new included). A start may ask
     * for a shorter one. @default none
     */
    timeout: runTimeoutSchema.optional(),
    /**
     * How long a run may take to succeed (a duration, e.g. `4h`): a run that
     * succeeds later, or is still open past it, breaches it. Reports count
     * breaches (`report_sla_breaches`); nothing else changes. @default none
     */
    sla: runTimeoutSchema.optional(),
    /**
     * How a run moves between builds of the worker under Worker Versioning:
     * `auto-upgrade` to the current build at its next task (runs that wait for
     * months must not keep an old build alive), `pinned` to the build it
     * started on until it ends. Ignored by unversioned workers. @default 'auto-upgrade'
     */
    versioning: z.enum(RUN_VERSIONING).optional(),
    steps: z.array(stepSchema).min(1, 'a definition needs at least one step').max(1000),
  })
  .strict();

/** A definition as users write it (defaults not yet applied). */
export type DefinitionInput = z.input<typeof definitionSchema>;
/** A validated definition, defaults applied: what the interpreter runs. */
export type Definition = z.output<typeof definitionSchema>;

/** One problem found in a definition, with the JSON path of the offending field. */
export interface DefinitionProblem {
  path: (string | number)[];
  message: string;
}


export interface ParseDefinitionOptions {
  /**
   * A version about to be saved, rather than one read back from storage:
   * also refuses recipients written in forms that stored versions may still
   * hold (`"a@x.com, b@y.com"`, `"Ops" <ops@x.com>`), which the email step
   * reads as the list they name. @default false
   */
  newVersion?: boolean;
}

/** Parses a definition, returning either the definition or every problem with its path. */
export function parseDefinition(
  input: unknown,
  options: ParseDefinitionOptions = {},
): { ok: true; definition: Definition } | { ok: false; problems: DefinitionProblem[] } {
  const result = definitionSchema.safeParse(input, { error: issueMessage });
  const duplicates = duplicateIds(input);
  const references = result.success ? unknownStepReferences(result.data.steps) : [];
  const recipients = result.success && options.newVersion ? writtenRecipientProblems(result.data.steps, ['steps']) : [];
  if (result.success && duplicates.length === 0 && references.length === 0 && recipients.length === 0) return { ok: true, definition: result.data };
  const problems: DefinitionProblem[] = (result.success ? [] : result.error.issues).map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: issue.message,
  }));
  return { ok: false, problems: [...problems, ...duplicates, ...references, ...recipients] };
}
