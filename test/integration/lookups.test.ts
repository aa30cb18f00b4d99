/**
 * Keys and definitions kept in the gateway's memory (src/gateway/lookups.ts)
 * stop working when they change, on every gateway: the one that made the
 * change at once, another when Postgres's notice arrives, whoever changed the
 * row (the API, `npm run keys`, psql). The positive controls switch the
 * notifying triggers off to show that rows really are kept.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { type ChangeFeed, listenForChanges } from '../../db/change-feed';
import { createApp } from '../../src/gateway/app';
import { createLogger } from '../../src/logger';
import { createHarness, eventually, type Harness } from '../support/harness';

let h: Harness;
/** A second gateway on the same database, with its own feed and memory. */
let other: { server: Server; url: string; changes: ChangeFeed };

const definition = {
  key: 'lookups-check',
  name: 'Lookups check',
  category: 'tests',
  steps: [{ id: 'only', type: 'set', values: { x: 1 } }],
};
let definitionId: string;

beforeAll(async () => {
  h = await createHarness({ worker: false });
  const logger = createLogger({ logLevel: 'silent' }, 'test');
  // Slow to reconnect, so the test can act while its feed is down.
  const changes = listenForChanges({ url: h.databaseUrl, logger, retryMs: 3_000 });
  await changes.ready();
  const app = createApp({ config: h.config, db: h.db, temporal: { connection: h.connection, client: h.client }, logger, changes });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  other = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, changes };
  const created = await h.api('POST', '/api/workflows', definition);
  expect(created.status).toBe(201);
  definitionId = (created.body as { id: string }).id;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    other?.server.closeAllConnections();
    other?.server.close(() => resolve());
  });
  await other?.changes.close();
  await h?.close();
});

async function onOther(method: string, path: string, key: string): Promise<number> {
  const res = await fetch(`${other.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  await res.text();
  return res.status;
}

/** Runs `change` with the notifying triggers off, so no gateway hears of it. */
async function unannounced(change: () => Promise<unknown>): Promise<void> {
  await sql`alter table api_keys disable trigger api_keys_changed`.execute(h.db);
  await sql`alter table workflow_definitions disable trigger workflow_definitions_changed`.execute(h.db);
  try {
    await change();
  } finally {
    await sql`alter table api_keys enable trigger api_keys_changed`.execute(h.db);
    await sql`alter table workflow_definitions enable trigger workflow_definitions_changed`.execute(h.db);
  }
}

const revokeInDatabase = (id: string) => sql`update api_keys set revoked_at = now() where id = ${id}`.execute(h.db);

describe('API keys', () => {
  it('are kept: a revocation nobody announces goes unseen (positive control)', async () => {
    const { record, key } = await createApiKey(h.db, { name: 'kept', role: 'viewer' });
    expect(await onOther('GET', '/api/workflows', key)).toBe(200);
    await unannounced(() => revokeInDatabase(record.id));
    expect(await onOther('GET', '/api/workflows', key)).toBe(200);
  });

  it('revoked in the database (psql, npm run keys) stop working on every gateway once Postgres says so', async () => {
    const { record, key } = await createApiKey(h.db, { name: 'revoked in psql', role: 'viewer' });
    expect(await onOther('GET', '/api/workflows', key)).toBe(200);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(200);
    await revokeInDatabase(record.id);
    await eventually(async () => ((await onOther('GET', '/api/workflows', key)) === 401 ? true : undefined), undefined, 'the revocation on the other gateway');
    await eventually(async () => ((await h.api('GET', '/api/workflows', undefined, {}, { key })).status === 401 ? true : undefined), undefined, 'the revocation');
  });

  it('revoked through the API stop working on that gateway at once, and on the others once told', async () => {
    const { record, key } = await createApiKey(h.db, { name: 'revoked by API', role: 'viewer' });
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(200);
    expect(await onOther('GET', '/api/workflows', key)).toBe(200);
    expect((await h.api('DELETE', `/api/keys/${record.id}`)).status).toBe(204);
    expect((await h.api('GET', '/api/workflows', undefined, {}, { key })).status).toBe(401);
    await eventually(async () => ((await onOther('GET', '/api/workflows', key)) === 401 ? true : undefined), undefined, 'the revocation on the other gateway');
  });
});

describe('definitions', () => {
  it('disabled through the API refuse starts on that gateway at once, and on the others once told', async () => {
    const { key } = await createApiKey(h.db, { name: 'operator', role: 'operator' });
    const start = (via: 'harness' | 'other') =>
      via === 'harness'
        ? h.api('POST', `/api/workflows/${definitionId}/execute`, { triggerData: {} }, {}, { key }).then((r) => r.status)
        : fetch(`${other.url}/api/workflows/${definitionId}/execute`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ triggerData: {} }),
          }).then(async (r) => (await r.text(), r.status));
    // Started (on a queue no worker polls): both gateways have read the definition.
    expect(await start('harness')).toBe(202);
    expect(await start('other')).toBe(202);
    expect((await h.api('POST', `/api/workflows/${definitionId}/disable`)).status).toBe(200);
    expect(await start('harness')).toBe(409);
    await eventually(async () => ((await start('other')) === 409 ? true : undefined), undefined, 'the disabled definition on the other gateway');
    expect((await h.api('POST', `/api/workflows/${definitionId}/enable`)).status).toBe(200);
    await eventually(async () => ((await start('other')) === 202 ? true : undefined), undefined, 'the enabled definition on the other gateway');
  });

  it('are kept: a change nobody announces goes unseen (positive control)', async () => {
    expect((await h.api('GET', `/api/workflows/${definitionId}`)).status).toBe(200);
    expect(await onOther('GET', `/api/workflows/${definitionId}`, h.adminKey)).toBe(200);
    await unannounced(() => sql`update workflow_definitions set name = 'Renamed quietly' where id = ${definitionId}`.execute(h.db));
    const res = await fetch(`${other.url}/api/workflows/${definitionId}`, { headers: { authorization: `Bearer ${h.adminKey}` } });
    expect(((await res.json()) as { name: string }).name).toBe('Lookups check');
    // Announced, the next change is seen, and with it the quiet one.
    await sql`update workflow_definitions set description = 'told' where id = ${definitionId}`.execute(h.db);
    await eventually(
      async () => {
        const r = await fetch(`${other.url}/api/workflows/${definitionId}`, { headers: { authorization: `Bearer ${h.adminKey}` } });
        return ((await r.json()) as { name: string }).name === 'Renamed quietly' ? true : undefined;
      },
      undefined,
      'the renamed definition',
    );
  });
});

describe('without notices', () => {
  it('nothing is kept while the feed is down, and keeping resumes when it is back', async () => {
    const { record, key } = await createApiKey(h.db, { name: 'feed down', role: 'viewer' });
    expect(await onOther('GET', '/api/workflows', key)).toBe(200);
    // Cut the other gateway's listening connection, as a failover or a restart of Postgres would.
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'wfa-change-feed' and datname = current_database()`.execute(h.db);
    await eventually(async () => (other.changes.listening ? undefined : true), undefined, 'the feed to notice');
    await unannounced(() => revokeInDatabase(record.id));
    // Read from the database, so the unannounced revocation is seen at once.
    expect(await onOther('GET', '/api/workflows', key)).toBe(401);
    await eventually(async () => (other.changes.listening ? true : undefined), undefined, 'the feed to reconnect');
    const again = await createApiKey(h.db, { name: 'after reconnect', role: 'viewer' });
    expect(await onOther('GET', '/api/workflows', again.key)).toBe(200);
    await unannounced(() => revokeInDatabase(again.record.id));
    expect(await onOther('GET', '/api/workflows', again.key)).toBe(200);
  });
});
