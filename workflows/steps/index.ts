/**
 * The registry of step handlers: one line per step type. The `satisfies`
 * clause makes a step type without a handler a compile error.
 */
import { CHANNELS, type ChannelType } from '../../channels';
import type { Step, StepType } from '../../src/shared/definition';
import { runApproval } from './approval';
import { runCall } from './call';
import { runCondition } from './condition';
import { runDbInsert, runDbUpdate } from './database';
import { runFail, runParallel, runSucceed, runSwitch } from './control';
import { runDelay } from './delay';
import { runForeach } from './foreach';
import { runHttp } from './http';
import { messageHandler } from './notify';
import { runSet } from './set';
import type { RegisteredHandler } from './types';
import { runWaitForSignal } from './wait-for-signal';

type Handlers = { [K in StepType]: RegisteredHandler<Extract<Step, { type: K }>> };

/** Every notification channel's step has the one message handler. */
const CHANNEL_HANDLERS = Object.fromEntries(Object.values(CHANNELS).map((channel) => [channel.type, messageHandler(channel)])) as {
  [K in ChannelType]: ReturnType<typeof messageHandler>;
};

export const STEP_HANDLERS = {
  ...CHANNEL_HANDLERS,
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

export function handlerFor<S extends Step>(step: S): RegisteredHandler<S> {
  return STEP_HANDLERS[step.type] as RegisteredHandler<S>;
}
