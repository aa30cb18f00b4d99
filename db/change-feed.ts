/**
 * Notices of changed API keys and definitions, from Postgres (LISTEN on the
 * `wfa_changes` channel that the triggers of migration 2026-11-26T04 notify),
 * so a process may keep those rows in memory and still see a revocation or a
 * disabled definition as soon as it is committed, whoever committed it; and,
 * where asked for, of runs that ended (`wfa_run_ended`, migration
 * 2026-12-07T13), so a gateway can answer a request waiting on one.
 *
 * One dedicated connection, reconnected with backoff when it drops. Whenever
 * it is not listening, nothing may be kept: `listening` is false, and every
 * subscriber is told to forget everything when listening stops and again
 * when it starts (notices sent in between are lost).
 */
import pg from 'pg';
import type { Logger } from 'pino';

export const CHANGE_CHANNEL = 'wfa_changes';
export const RUN_ENDED_CHANNEL = 'wfa_run_ended';

/** A changed table, or undefined for "forget everything" (the feed started or stopped listening). */
export type ChangeListener = (table: string | undefined) => void;

export interface ChangeFeed {
  /** True while notices arrive; a cache must not keep rows otherwise. */
  readonly listening: boolean;
  subscribe(listener: ChangeListener): () => void;
  /** Whether it listens for runs that ended (`runEndings`). */
  readonly runEndings: boolean;
  /** Each run whose mirror row reached a final status, by execution id (only with `runEndings`). */
  onRunEnded(listener: (executionId: string) => void): () => void;
  /** Resolves once listening (for the first time); rejects only if closed before. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface ChangeFeedOptions {
  url: string;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** First wait before reconnecting; doubles up to 30 s. @default 500 */
  retryMs?: number;
  /** Listen for runs that ended too (a notice per finished run: the gateway's, not the worker's). @default false */
  runEndings?: boolean;
}

const MAX_RETRY_MS = 30_000;

export function listenForChanges({ url, logger, retryMs = 500, runEndings = false }: ChangeFeedOptions): ChangeFeed {
  const listeners = new Set<ChangeListener>();
  const endListeners = new Set<(executionId: string) => void>();
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let wait = retryMs;
  let markReady: () => void = () => undefined;
  let failReady: (err: Error) => void = () => undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  readyPromise.catch(() => undefined);

  const tell = (table: string | undefined) => {
    for (const listener of listeners) listener(table);
  };

  const stopListening = () => {
    if (!listening) return;
    listening = false;
    tell(undefined);
  };

  const connect = async () => {
    retryTimer = undefined;
    if (closed) return;
    const next = new pg.Client({ connectionString: url, keepAlive: true, application_name: 'wfa-change-feed' });
    client = next;
    // A connection lost after connecting: stop trusting kept rows, then try again.
    next.on('error', () => undefined);
    next.on('end', () => {
      if (client !== next) return;
      client = undefined;
      stopListening();
      if (!closed) {
        logger.warn(`change notices from Postgres stopped; cached keys and definitions are off until they resume`);
        schedule();
      }
    });
    next.on('notification', (message) => {
      if (message.channel === RUN_ENDED_CHANNEL) {
        for (const listener of endListeners) listener(message.payload ?? '');
        return;
      }
      if (message.channel !== CHANGE_CHANNEL) return;
      tell((message.payload ?? '').split(':')[0] || undefined);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (runEndings) await next.query(`LISTEN ${RUN_ENDED_CHANNEL}`);
    } catch {
      if (client === next) client = undefined;
      await next.end().catch(() => undefined);
      if (!closed) schedule();
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    wait = retryMs;
    listening = true;
    // Whatever was kept before this connection may have changed unseen.
    tell(undefined);
    markReady();
  };

  const schedule = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => void connect(), wait);
    retryTimer.unref();
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  };

  void connect();

  return {
    get listening() {
      return listening;
    },
    runEndings,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onRunEnded(listener) {
      endListeners.add(listener);
      return () => endListeners.delete(listener);
    },
    ready: () => readyPromise,
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      stopListening();
      failReady(new Error('the change feed was closed'));
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}
