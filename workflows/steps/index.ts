/**
 * The registry of step handlers: one line per step type. The `satisfies`
 * clause makes a step type without a handler a compile error.
 */
import type { Step, StepType } from '../../src/shared/definition';
import { runApproval } from './approval';
import { runCall } from './call';
import { runCondition } from './condition';
import { runDbInsert, runDbUpdate } from './database';
import { runFail, runParallel, runSucceed, runSwitch } from './control';
import { runDelay } from './delay';
import { runEmail } from './email';
import { runForeach } from './foreach';
import { runHttp } from './http';
import { runSet } from './set';
import { runSlack } from './slack';
import { runSms } from './sms';
import { runTeams } from './teams';
import type { StepHandler } from './types';
import { runWaitForSignal } from './wait-for-signal';

type Handlers = { [K in StepType]: StepHandler<Extract<Step, { type: K }>> };

export const STEP_HANDLERS = {
  email: runEmail,
  slack: runSlack,
  sms: runSms,
  teams: runTeams,
  http: runHttp,
  set: runSet,
  delay: runDelay,
  condition: runCondition,
  switch: runSwitch,
  parallel: runParallel,
  foreach: runForeach,
  approval: runApproval,
  call: runCall,
  wait_for_signal: runWaitForSignal,
  fail: runFail,
  succeed: runSucceed,
  db_insert: runDbInsert,
  db_update: runDbUpdate,
} satisfies Handlers;

export function handlerFor<S extends Step>(step: S): StepHandler<S> {
  return STEP_HANDLERS[step.type] as StepHandler<S>;
}
