/**
 * Holding the delivery ledger's one blind spot shut around a worker kill:
 * a provider took a message and the worker died before the ledger said SENT
 * (activities/delivery.ts says why no ledger can close it). New sends wait at
 * the loopback peers (a mail at its recipient, or once read whole; a request
 * once read), and the answer comes once every message the peers took is SENT
 * in the ledger. After the release the peers take nothing from a client that
 * has gone: neither what they held, nor a send the killed worker made just
 * before it died that a busy peer reads only then. What a test then proves
 * is everything else: a retried, reclaimed or reset step never sends again.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema';
import type { HttpSink, RecordedRequest, SmtpSink } from '../../scripts/lib/sinks';
import { eventually } from './harness';

/**
 * Holds new sends at `smtp` and `http` until the returned function is called.
 * `delivery` tells the HTTP requests that are ledger deliveries (a Slack post)
 * from others the same peer takes (an `http` step's call).
 */
export async function holdDeliveries(
  db: Kysely<Database>,
  smtp: SmtpSink,
  http: HttpSink[],
  delivery: (req: RecordedRequest) => boolean = () => true,
): Promise<() => void> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  smtp.onRecipient = () => released;
  smtp.onArrival = () => released;
  for (const sink of http) sink.onArrival = () => released;
  // What the peers took before the hold, the ledger records.
  await eventually(
    async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from deliveries where status = 'SENT'`.execute(db);
      const taken = smtp.messages.length + http.reduce((n, sink) => n + sink.requests.filter(delivery).length, 0);
      return rows[0]!.n === taken ? true : undefined;
    },
    30_000,
    'the ledger to record every message the peers took',
  );
  return () => {
    // The kill is over: a client gone by now is seen to be, and what it sent is dropped.
    smtp.onRecipient = undefined;
    smtp.onArrival = undefined;
    smtp.deadClientGuard = true;
    for (const sink of http) {
      sink.onArrival = undefined;
      sink.deadClientGuard = true;
    }
    release();
  };
}
