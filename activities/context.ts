/**
 * The activity running now, if any: activities are also called outside an
 * activity's context (the tests, the gateway's connection checks), where the
 * SDK's `Context.current()` throws.
 */
import { Context } from '@temporalio/activity';

export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
