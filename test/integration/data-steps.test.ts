/**
 * `db_insert` and `db_update` against real tables in the test's own
 * database: only tables DATA_TABLES lists, only columns the catalog knows,
 * every value a query parameter; inserts deduplicated by the delivery ledger.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { freePort } from '../../scripts/lib/ports';
import { loadConfig } from '../../src/config';
import { createHarness, type Harness } from '../support/harness';
import { silentListener } from '../support/silent-listener';

const INJECTION = `Robert'); DROP TABLE customers; --`;
const BAD_COLUMN = 'name" = null; DROP TABLE customers; --';

let h: Harness;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  h = await createHarness({ env: { DATA_TABLES: 'customers, audit.events' } });
  await sql`create table customers (
    id serial primary key,
    email text not null unique,
    name text,
    status text not null default 'new',
    profile jsonb,
    tags text[],
    created_at timestamptz not null default now()
  )`.execute(h.db);
  await sql`create table secrets (id serial primary key, value text)`.execute(h.db);
  await sql`create schema audit`.execute(h.db);
  await sql`create table audit.events (id bigserial primary key, kind text not null, payload jsonb)`.execute(h.db);
  activities = createActivities({ config: h.config, db: h.db });
});

afterAll(async () => {
  await h?.close();
});

const key = () => `wf-${randomUUID()}/db`;

async function customers() {
  const { rows } = await sql<Record<string, unknown>>`select id, email, name, status, profile, tags from customers order by id`.execute(h.db);
  return rows;
}

async function run(definition: Record<string, unknown>, triggerData: Record<string, unknown>) {
  const created = await h.api('POST', '/api/workflows', definition);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const started = await h.api('POST', `/api/workflows/${created.body.id}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return { handle: h.client.workflow.getHandle(started.body.workflowId), executionId: started.body.executionId as string };
}

/** The activity failure at the root of a failed run. */
async function failureOf(handle: Awaited<ReturnType<typeof run>>['handle']): Promise<ApplicationFailure> {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause: unknown = (err as WorkflowFailedError).cause;
  while (cause instanceof Error && cause.cause) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('database steps in a run', () => {
  it('inserts a row, stores an injection attempt verbatim, and updates it by the returned id', async () => {
    const { handle } = await run(
      {
        key: 'signup-to-crm',
        name: 'Signup to CRM',
        steps: [
          {
            id: 'add',
            type: 'db_insert',
            table: 'customers',
            values: { email: '{{ input.email }}', name: '{{ input.name }}', profile: '{{ input.profile }}', tags: '{{ input.tags }}' },
            returning: ['id', 'email', 'status'],
          },
          { id: 'log', type: 'db_insert', table: 'audit.events', values: { kind: 'signup', payload: { customer: '{{ steps.add.output.rows[0].id }}' } } },
          {
            id: 'activate',
            type: 'db_update',
            table: 'customers',
            values: { status: 'active' },
            where: { id: '{{ steps.add.output.rows[0].id }}', status: 'new' },
            returning: ['id', 'status'],
          },
          { id: 'after', type: 'set', values: { added: '{{ steps.add.output }}', logged: '{{ steps.log.output }}', activated: '{{ steps.activate.output }}' } },
        ],
      },
      { email: 'robert@example.test', name: INJECTION, profile: { plan: 'pro', seats: 3 }, tags: ['vip', 'eu'] },
    );
    const result = await handle.result();
    const [row] = await customers();
    expect(row).toEqual({
      id: expect.any(Number),
      email: 'robert@example.test',
      name: INJECTION,
      status: 'active',
      profile: { plan: 'pro', seats: 3 },
      tags: ['vip', 'eu'],
    });
    expect(result.vars).toEqual({
      added: { rowCount: 1, rows: [{ id: row!.id, email: 'robert@example.test', status: 'new' }] },
      logged: { rowCount: 1, rows: [] },
      activated: { rowCount: 1, rows: [{ id: row!.id, status: 'active' }] },
    });
    const { rows: events } = await sql<{ kind: string; payload: unknown }>`select kind, payload from audit.events`.execute(h.db);
    expect(events).toEqual([{ kind: 'signup', payload: { customer: row!.id } }]);
    // Both inserts are in the ledger under the run's workflow id.
    const ledger = await h.db.selectFrom('deliveries').selectAll().where('workflow_id', '=', handle.workflowId).orderBy('step_path').execute();
    expect(ledger.map((d) => [d.step_path, d.channel, d.status, d.recipient])).toEqual([
      ['add', 'db', 'SENT', 'public.customers'],
      ['log', 'db', 'SENT', 'audit.events'],
    ]);
  });

  it('fails at once on a table DATA_TABLES does not list, touching nothing', async () => {
    const { handle, executionId } = await run(
      {
        key: 'steal-secrets',
        name: 'Steal secrets',
        steps: [{ id: 'grab', type: 'db_insert', table: 'secrets', values: { value: '{{ input.v }}' }, retry: { maximumAttempts: 5 } }],
      },
      { v: 'x' },
    );
    const failure = await failureOf(handle);
    expect(failure).toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: 'table public.secrets is not one DATA_TABLES allows' });
    const history = await handle.fetchHistory();
    const starts = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(starts.map((e) => Number(e.activityTaskStartedEventAttributes?.attempt))).toEqual([1]);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from secrets`.execute(h.db);
    expect(rows[0]!.n).toBe(0);
    const row = await h.api('GET', `/api/executions/${executionId}`);
    expect(row.body.error).toContain('public.secrets');
  });

  it('refuses an update whose condition rendered no value instead of widening it', async () => {
    const before = await customers();
    const { handle } = await run(
      {
        key: 'update-missing-where',
        name: 'Update with a missing where',
        steps: [{ id: 'upd', type: 'db_update', table: 'customers', values: { status: 'closed' }, where: { email: '{{ input.email }}' } }],
      },
      {},
    );
    const failure = await failureOf(handle);
    expect(failure.type).toBe('ExpressionFailed');
    expect(failure.message).toMatch(/where "email" gave no value/);
    expect(await customers()).toEqual(before);
  });

  it('refuses SQL in a column name when the definition is saved', async () => {
    const res = await h.api('POST', '/api/workflows/validate', {
      key: 'column-injection',
      name: 'Column injection',
      steps: [
        { id: 'a', type: 'db_insert', table: 'customers', values: { [BAD_COLUMN]: 'x' } },
        { id: 'b', type: 'db_update', table: 'customers; drop table customers', values: { name: 'x' }, where: {} },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(
      [`$.steps[0].values["${BAD_COLUMN.replace(/"/g, '\\"')}"]`, '$.steps[1].table', '$.steps[1].where'].sort(),
    );
  });
});

describe('the database activities', () => {
  it('refuses an unknown or injected column by name, before any statement runs', async () => {
    await expect(activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'a@example.test', nickname: 'al' } })).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: 'table public.customers has no column "nickname"',
    });
    await expect(activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { [BAD_COLUMN]: 'x' } })).rejects.toMatchObject({
      type: 'ProviderRejected',
      message: `${JSON.stringify(BAD_COLUMN)} is not a column name (letters, digits, _ and $)`,
    });
    await expect(
      activities.dbUpdate({ deliveryKey: key(), table: 'customers', values: { name: 'x' }, where: { 'id = id or 1': 1 } }),
    ).rejects.toMatchObject({ type: 'ProviderRejected', message: expect.stringContaining('is not a column name') });
    await expect(
      activities.dbUpdate({ deliveryKey: key(), table: 'customers', values: { name: 'x' }, where: { id: 1 }, returning: ['id', 'password'] }),
    ).rejects.toMatchObject({ type: 'ProviderRejected', message: 'table public.customers has no column "password"' });
    await expect(activities.dbInsert({ deliveryKey: key(), table: 'public.customers;', values: { name: 'x' } })).rejects.toMatchObject({
      type: 'ProviderRejected',
      message: expect.stringContaining('is not a table name'),
    });
    // Nothing ran: the table is still there.
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from customers`.execute(h.db);
    expect(rows[0]!.n).toBeGreaterThanOrEqual(0);
  });

  it('inserts once per delivery key: a retried insert returns the first result', async () => {
    const deliveryKey = key();
    const input = { deliveryKey, table: 'customers', values: { email: 'once@example.test', name: 'Once' }, returning: ['id'] };
    const first = await activities.dbInsert(input);
    const second = await activities.dbInsert(input);
    expect(second).toEqual({ ...first, deduplicated: true });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from customers where email = 'once@example.test'`.execute(h.db);
    expect(rows[0]!.n).toBe(1);
    const ledger = await h.db.selectFrom('deliveries').selectAll().where('delivery_key', '=', deliveryKey).executeTakeFirstOrThrow();
    expect(ledger).toMatchObject({ channel: 'db', status: 'SENT', attempts: 1, recipient: 'public.customers' });
  });

  it('fails for good on a constraint violation, naming the constraint', async () => {
    await activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'dup@example.test' } });
    const deliveryKey = key();
    const dup = await activities.dbInsert({ deliveryKey, table: 'customers', values: { email: 'dup@example.test' } }).catch((e: unknown) => e);
    expect(dup).toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: expect.stringContaining('customers_email_key') });
    expect((dup as Error).message).toContain('SQLSTATE 23505');
    expect(await h.db.selectFrom('deliveries').select('status').where('delivery_key', '=', deliveryKey).executeTakeFirst()).toEqual({ status: 'FAILED' });

    await expect(activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { name: 'no email' } })).rejects.toMatchObject({
      type: 'ProviderRejected',
      nonRetryable: true,
      message: expect.stringMatching(/null value in column "email".*SQLSTATE 23502/),
    });
    await expect(
      activities.dbUpdate({ deliveryKey: key(), table: 'customers', values: { email: 'dup@example.test' }, where: { email: 'once@example.test' } }),
    ).rejects.toMatchObject({ type: 'ProviderRejected', nonRetryable: true, message: expect.stringContaining('customers_email_key') });
  });

  it('updates by equality, NULL matching NULL, and reports how many rows changed', async () => {
    await activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'n1@example.test' } });
    await activities.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'n2@example.test', name: 'Named' } });
    const res = await activities.dbUpdate({ deliveryKey: key(), table: 'customers', values: { status: 'anonymous' }, where: { name: null } });
    expect(res.rowCount).toBeGreaterThanOrEqual(1);
    const { rows } = await sql<{ email: string; status: string }>`select email, status from customers where email in ('n1@example.test', 'n2@example.test') order by email`.execute(h.db);
    expect(rows).toEqual([
      { email: 'n1@example.test', status: 'anonymous' },
      { email: 'n2@example.test', status: 'new' },
    ]);
    expect(await activities.dbUpdate({ deliveryKey: key(), table: 'customers', values: { status: 'x' }, where: { email: 'nobody@example.test' } })).toEqual({
      rowCount: 0,
      rows: [],
    });
  });

  it('fails with ChannelNotConfigured naming DATA_TABLES when no table is allowed', async () => {
    const off = createActivities({ config: loadConfig({ DATABASE_URL: h.databaseUrl }), db: h.db });
    await expect(off.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'x@example.test' } })).rejects.toMatchObject({
      type: 'ChannelNotConfigured',
      nonRetryable: true,
      message: expect.stringContaining('DATA_TABLES'),
    });
  });

  it('retries when the data database cannot be reached, without its password in the error', async () => {
    const port = await freePort();
    const unreachable = createActivities({
      config: loadConfig({ DATABASE_URL: h.databaseUrl, DATA_DATABASE_URL: `postgres://writer:pw-8c1d2e@127.0.0.1:${port}/data`, DATA_TABLES: 'customers' }),
      db: h.db,
    });
    const err = await unreachable.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'x@example.test' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false, message: expect.stringContaining('ECONNREFUSED') });
    expect((err as Error).message).not.toContain('pw-8c1d2e');
  });

  it('retries a data database that takes no connection within 5 s', async () => {
    // Accepted by the kernel and then never answered: the connection's own timeout ends the wait.
    const silent = await silentListener();
    try {
      const unanswered = createActivities({
        config: loadConfig({ DATABASE_URL: h.databaseUrl, DATA_DATABASE_URL: `postgres://writer@127.0.0.1:${silent.port}/data`, DATA_TABLES: 'customers' }),
        db: h.db,
      });
      const err = await unanswered.dbInsert({ deliveryKey: key(), table: 'customers', values: { email: 'x@example.test' } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false, message: expect.stringContaining('could not be reached: timeout expired') });
    } finally {
      silent.close();
    }
  });
});
