import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { HttpStep } from '../../src/shared/definition';
import { isRetryHint } from '../../src/shared/run';
import { isRead, LOCAL_READ_MAX_BYTES } from '../run/local-reads';
import type { Ports, StepHandler } from './types';

/** What an `http` step uses of the run. */
export type HttpPorts = Ports<'renderFields' | 'flushIfBehind' | 'activities' | 'activityOptions' | 'deliveryKey' | 'localReads' | 'holdUntil'>;

export const runHttp: StepHandler<HttpStep, HttpPorts> = async (step, path, ctx) => {
  const rendering = ctx.renderFields({ url: step.url, headers: step.headers, body: step.body, form: step.form }, step);
  const rendered = rendering instanceof Promise ? await rendering : rendering;
  const flushing = ctx.flushIfBehind();
  if (flushing) await flushing;
  const options = ctx.activityOptions(step, `${step.method ?? 'GET'} request`);
  const request = {
    deliveryKey: ctx.deliveryKey(path),
    ...rendered,
    method: step.method,
    secretHeaders: step.secretHeaders,
    // Only the connection's name enters the run; the activity opens it.
    ...(step.connection ? { connection: step.connection } : {}),
    // Leave the activity room to classify its own timeout before Temporal's fires.
    timeoutMs: step.timeout ? Math.max(100, (parseDuration(step.timeout) ?? 30_000) - 500) : undefined,
  };
  const local = isRead(step.method) ? ctx.localReads.activities(options) : undefined;
  if (local) {
    try {
      return await local.httpRequest({ ...request, timeoutMs: ctx.localReads.requestMs(request.timeoutMs), maxBytes: LOCAL_READ_MAX_BYTES });
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      // Not the step's failure: the ordinary activity below, with the step's own timeout and retries, decides.
      ctx.localReads.fellBack();
      // A peer that asked for time (429 with Retry-After) is given it before the request goes again.
      const hint = retryAfterMs(err);
      if (hint !== undefined) await ctx.holdUntil(path, step, Date.now() + hint, 'the peer asked to be retried later');
    }
  }
  return ctx.activities(options).httpRequest(request);
};

/**
 * The wait a failed attempt's peer asked for (its failure's `RetryHint`), if any. A local
 * activity's failure is the activity's own error; an ordinary one's is its cause.
 */
function retryAfterMs(err: unknown): number | undefined {
  const failure = err instanceof wf.ActivityFailure ? err.cause : err;
  const hint: unknown = failure instanceof wf.ApplicationFailure ? failure.details?.[0] : undefined;
  return isRetryHint(hint) && hint.retryAfterMs > 0 ? hint.retryAfterMs : undefined;
}
