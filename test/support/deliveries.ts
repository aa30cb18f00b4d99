/**
 * Holding the delivery ledger's one blind spot shut around a worker kill:
 * a provider took a message and the worker died before the ledger said SENT
 * (activities/delivery.ts says why no ledger can close it). New sends wait at
 * the loopback peers, and the answer comes once every message the peers took
 * is SENT in the ledger; from then on the peers take nothing from a client
 * that has gone (a send the killed worker made just before it died, read by
 * the busy peer after the release). What a test then proves is everything
 * else: a retried, reclaimed or reset step never sends again.
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
  smtp.deadClientGuard = true;
  for (const sink of http) {
    sink.onArrival = () => released;
    sink.deadClientGuard = true;
  }
  // Sends past their recipients already finish; then the ledger catches up with the peers.
  await new Promise((r) => setTimeout(r, 1_000));
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
    smtp.onRecipient = undefined;
    for (const sink of http) sink.onArrival = undefined;
    release();
  };
}
