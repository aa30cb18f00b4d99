import * as wf from '@temporalio/workflow';
import { parseDuration } from '../../src/shared/duration';
import type { HttpStep } from '../../src/shared/definition';
import { isRead } from '../run/local-reads';
import type { Ports, StepHandler } from './types';

/** What an `http` step uses of the run. */
export type HttpPorts = Ports<'renderFields' | 'flushIfBehind' | 'activities' | 'activityOptions' | 'deliveryKey' | 'localReads'>;

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
      return await local.httpRequest({ ...request, timeoutMs: ctx.localReads.requestMs(request.timeoutMs) });
    } catch (err) {
      if (wf.isCancellation(err)) throw err;
      // Not the step's failure: the ordinary activity below, with the step's own timeout and retries, decides.
      ctx.localReads.fellBack();
    }
  }
  return ctx.activities(options).httpRequest(request);
};
