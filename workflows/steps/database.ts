import * as wf from '@temporalio/workflow';
import type { DbInsertStep, DbUpdateStep } from '../../src/shared/definition';
import { ERROR_TYPES } from '../../src/shared/run';
import type { Ports, StepHandler } from './types';

/** What a database step uses of the run. */
export type DatabasePorts = Ports<'renderFields' | 'flushIfBehind' | 'activities' | 'activityOptions' | 'deliveryKey'>;

export const runDbInsert: StepHandler<DbInsertStep, DatabasePorts> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ values: step.values }, step);
  const { values } = rendering instanceof Promise ? await rendering : rendering;
  const flushing = ctx.flushIfBehind();
  if (flushing) await flushing;
  return ctx.activities(ctx.activityOptions(step, `insert into ${step.table}`)).dbInsert({
    deliveryKey: ctx.deliveryKey(path),
    table: step.table,
    values,
    returning: step.returning,
    delivery: step.delivery,
  });
};

export const runDbUpdate: StepHandler<DbUpdateStep, DatabasePorts> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ values: step.values, where: step.where }, step);
  const { values, where } = rendering instanceof Promise ? await rendering : rendering;
  // A condition whose template gave nothing would vanish on the way to the
  // activity and widen the update: refuse it here instead.
  const record = where as Record<string, unknown>;
  const missing = Object.keys(step.where).filter((column) => record[column] === undefined);
  if (missing.length > 0) {
    throw wf.ApplicationFailure.create({
      type: ERROR_TYPES.ExpressionFailed,
      message: `step "${step.id}": where ${missing.map((c) => `"${c}"`).join(', ')} gave no value; use null to match NULL`,
      nonRetryable: true,
    });
  }
  const flushing = ctx.flushIfBehind();
  if (flushing) await flushing;
  return ctx.activities(ctx.activityOptions(step, `update ${step.table}`)).dbUpdate({
    deliveryKey: ctx.deliveryKey(path),
    table: step.table,
    values,
    where,
    returning: step.returning,
  });
};
