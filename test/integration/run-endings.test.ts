/**
 * Waiting for a run to end (src/gateway/run-endings.ts): a waiter wakes on
 * Postgres's notice that the run's mirror row reached a final status, whoever
 * wrote it (inserted final, or updated to final); other writes of the row
 * wake no one; with no notices, reading the waited rows wakes it; and a wait
 * ends at its deadline or when its caller goes away.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeFeed, listenForChanges } from '../../db/change-feed';
import { createDb } from '../../db/client';
import { createRunEndings } from '../../src/gateway/run-endings';
import { createLogger } from '../../src/logger';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;
let feed: ChangeFeed;
let definitionId: string;
const logger = createLogger({ logLevel: 'silent' }, 'test');
/** Longer than any test may take: a wait that ends anyway ended for another reason. */
const FOREVER_MS = 10 * 60_000;

beforeAll(async () => {
  h = await createHarness({ worker: false });
  feed = listenForChanges({ url: h.databaseUrl, logger, runEndings: true });
  await feed.ready();
  const created = await h.api('POST', '/api/workflows', { key: 'endings', name: 'Endings', steps: [{ id: 'only', type: 'set', values: { x: 1 } }] });
  expect(created.status).toBe(201);
  definitionId = created.body.id as string;
});

afterAll(async () => {
  await feed?.close();
  await h?.close();
});

async function insertRun(status: string, id: string = randomUUID()): Promise<string> {
  await sql`insert into workflow_executions (id, definition_id, definition_version, workflow_id, status, trigger_type, trigger_data, category, started_at)
    values (${id}, ${definitionId}, 1, ${`endings-${id}`}, ${status}, 'manual', '{}', 'general', now())`.execute(h.db);
  return id;
}

const setStatus = (id: string, status: string) => sql`update workflow_executions set status = ${status} where id = ${id}`.execute(h.db);

describe('waiting for a run to end', () => {
  it('wakes on the notice of a final status, whoever writes it, and not on other writes', async () => {
    // Its own reads of the rows fail: only a notice can wake a waiter.
    const unreachable = createDb({ url: 'postgres://nobody@127.0.0.1:1/none', connectTimeoutMs: 200, logger });
    const endings = createRunEndings(unreachable, feed);
    try {
      const updated = await insertRun('RUNNING');
      const untouched = await insertRun('RUNNING');
      const woken = endings.waitFor(updated, FOREVER_MS);
      const stillWaiting = endings.waitFor(untouched, FOREVER_MS);
      expect(endings.waiting).toBe(2);

      // A write that is not an ending, then one that is: notices arrive in commit order.
      await sql`update workflow_executions set current_step = 'only' where id = ${untouched}`.execute(h.db);
      await setStatus(updated, 'SUCCESS');
      await woken;
      expect(endings.waiting).toBe(1);

      // A row whose first write is final (a run the gateway did not start).
      const inserted = randomUUID();
      const insertedEnded = endings.waitFor(inserted, FOREVER_MS);
      await insertRun('FAILED', inserted);
      await insertedEnded;
      expect(endings.waiting).toBe(1);

      await setStatus(untouched, 'TERMINATED');
      await stillWaiting;
      expect(endings.waiting).toBe(0);
    } finally {
      endings.close();
      await unreachable.destroy();
    }
  });

  it('without notices, finds the rows that ended by reading them', async () => {
    const endings = createRunEndings(h.db, undefined);
    try {
      const id = await insertRun('RUNNING');
      const ended = endings.waitFor(id, FOREVER_MS);
      await setStatus(id, 'CANCELLED');
      await ended;
      expect(endings.waiting).toBe(0);
    } finally {
      endings.close();
    }
  });

  it('ends a wait at its deadline, when its caller goes away, and all of them on close', async () => {
    const endings = createRunEndings(h.db, feed);
    const id = await insertRun('RUNNING');
    await endings.waitFor(id, 50);
    const caller = new AbortController();
    const abandoned = endings.waitFor(id, FOREVER_MS, caller.signal);
    const open = endings.waitFor(id, FOREVER_MS);
    expect(endings.waiting).toBe(2);
    caller.abort();
    await abandoned;
    expect(endings.waiting).toBe(1);
    endings.close();
    await open;
    expect(endings.waiting).toBe(0);
    const [{ status }] = (await sql<{ status: string }>`select status from workflow_executions where id = ${id}`.execute(h.db)).rows as [{ status: string }];
    expect(status).toBe('RUNNING');
  });
});
