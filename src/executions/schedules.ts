/**
 * Schedule triggers: a definition whose trigger is `schedule` gets a Temporal
 * Schedule that starts the interpreter on its cron, in its time zone. The
 * scheduled run pins the definition's version and writes its mirror row
 * itself, when it starts, so each firing runs the version current then.
 */
import { type Client, ScheduleNotFoundError, type ScheduleOptionsAction } from '@temporalio/client';
import { CronExpressionParser } from 'cron-parser';
import type { DefinitionRow } from '../../db/schema';
import type { Config } from '../config';
import type { Definition, DefinitionProblem } from '../shared/definition';
import { parseDuration } from '../shared/duration';
import { INTERPRETER_WORKFLOW } from '../shared/run';
import { Category, DefinitionId, DefinitionKey, TriggerType } from '../shared/search-attributes';

export function scheduleIdFor(definitionKey: string): string {
  return `definition-${definitionKey}`;
}

/** Save-time checks of a schedule trigger: the cron parses and the time zone exists. */
export function checkSchedule(definition: Definition): DefinitionProblem[] {
  const trigger = definition.trigger;
  if (trigger.type !== 'schedule') return [];
  const problems: DefinitionProblem[] = [];
  try {
    Intl.DateTimeFormat('en', { timeZone: trigger.timezone });
  } catch {
    problems.push({ path: ['trigger', 'timezone'], message: `unknown time zone "${trigger.timezone}"; use an IANA name such as Europe/Paris` });
  }
  if (trigger.cron.trim().split(/\s+/).length !== 5) {
    problems.push({ path: ['trigger', 'cron'], message: 'must have five fields: minute hour day-of-month month day-of-week' });
  } else {
    try {
      CronExpressionParser.parse(trigger.cron, { tz: problems.length ? 'UTC' : trigger.timezone });
    } catch (err) {
      problems.push({ path: ['trigger', 'cron'], message: `does not parse: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return problems;
}

/**
 * The definition's Temporal Schedule as the server has it: its next fire
 * times (at most `count`), whether it is paused, and its last firing; null
 * when there is none (disabled, or not a schedule trigger).
 */
export async function describeSchedule(
  client: Client,
  definitionKey: string,
  count = 5,
): Promise<{ id: string; nextFireTimes: Date[]; paused: boolean; lastFiredAt: Date | null } | null> {
  try {
    const described = await client.schedule.getHandle(scheduleIdFor(definitionKey)).describe();
    const last = described.info.recentActions.at(-1);
    return {
      id: described.scheduleId,
      nextFireTimes: described.info.nextActionTimes.slice(0, count),
      paused: described.state.paused,
      lastFiredAt: last?.takenAt ?? null,
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/** Deletes the definition's Temporal Schedule; answers whether there was one. */
export async function deleteSchedule(client: Client, definitionKey: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleIdFor(definitionKey)).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/**
 * Makes the Temporal Schedule match the definition: created or updated while
 * it is enabled with a schedule trigger, deleted otherwise. Idempotent.
 */
export async function syncSchedule(client: Client, config: Config, row: DefinitionRow, definition: Definition): Promise<'created' | 'updated' | 'deleted' | 'none'> {
  const scheduleId = scheduleIdFor(row.key);
  const handle = client.schedule.getHandle(scheduleId);
  const trigger = definition.trigger;
  if (trigger.type !== 'schedule' || !row.enabled) {
    try {
      await handle.delete();
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'none';
      throw err;
    }
  }
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: INTERPRETER_WORKFLOW,
    taskQueue: config.temporal.taskQueue,
    workflowId: `${row.key}-scheduled`,
    args: [{ scheduled: { definitionKey: row.key } }],
    typedSearchAttributes: [
      { key: DefinitionId, value: row.id },
      { key: DefinitionKey, value: row.key },
      { key: Category, value: row.category },
      { key: TriggerType, value: 'schedule' },
    ],
    memo: { definitionName: definition.name, definitionKey: row.key },
    staticSummary: `${definition.name} (scheduled: ${trigger.cron} ${trigger.timezone})`,
    ...(definition.timeout !== undefined ? { workflowExecutionTimeout: parseDuration(definition.timeout) } : {}),
  };
  const spec = { cronExpressions: [trigger.cron], timezone: trigger.timezone };
  try {
    await handle.update((previous) => ({ ...previous, spec, action }));
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await client.schedule.create({ scheduleId, spec, action, policies: { overlap: 'SKIP' } });
  return 'created';
}
