/**
 * The web console in a real browser (Debian's Chromium, driven by
 * playwright-core) against a real gateway, worker, Temporal dev server and
 * Postgres: signing in, the overview's chart from real runs, starting a run
 * from a definition's form and watching it finish, deciding two runs in a row
 * from the inbox, each with its own comment, resetting a failed run, what a
 * viewer does not see, hostile text shown as text, and the page's policy and
 * weight. Screenshots of each page go to
 * test-results/console/.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type Browser, chromium, type Page } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { refreshReports } from '../../db/reports';
import { findOrInstallBrowser } from '../../scripts/lib/browsers';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { CONSOLE_DIR } from '../../src/gateway/routes/console';
import { createHarness, eventually, type Harness } from '../support/harness';
import { runTimeout } from '../support/timeouts';

const SHOTS = join('test-results', 'console');
/**
 * The longest one wait on a page may take: a page load, or a run of a few
 * steps followed to its end, on a loaded machine. Every wait uses it (the
 * browsers' defaults are 30 s), so none is set per call.
 */
const UI_WAIT = runTimeout({ runs: 3, steps: 5 });
/** A test: a browser started (Firefox takes seconds), a few runs, a few pages. */
const TEST_TIMEOUT = runTimeout({ runs: 3, steps: 5, extra: '30s' });
const HOSTILE = '<img src=x onerror="window.__xss=1">';

let h: Harness;
let browser: Browser;
let peer: HttpSink;
let peerDown = true;
let batchPeerDown = true;
const keys: Record<'viewer' | 'operator', string> = { viewer: '', operator: '' };

/**
 * A loopback OpenID Connect provider: its authorization endpoint signs in
 * "Ida" at once and sends the browser back with a code; its token endpoint
 * trades the code, with the PKCE verifier that matches, for a signed token.
 */
let idp: Server;
let idpUrl: string;
const idpSeen: { challenge?: string; verifierMatched?: boolean } = {};

async function startIdp(): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'console-test', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, string>();
  idp = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://idp');
    if (url.pathname === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === '/authorize') {
      const code = `code-${codes.size + 1}`;
      idpSeen.challenge = url.searchParams.get('code_challenge') ?? undefined;
      codes.set(code, idpSeen.challenge ?? '');
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.search = new URLSearchParams({ code, state: url.searchParams.get('state') ?? '' }).toString();
      res.writeHead(302, { location: back.toString() }).end();
    } else if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          const challenge = codes.get(form.get('code') ?? '');
          const computed = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
          idpSeen.verifierMatched = challenge !== undefined && challenge === computed;
          const cors = { 'access-control-allow-origin': new URL(h.baseUrl).origin, 'content-type': 'application/json' };
          if (!idpSeen.verifierMatched) return res.writeHead(400, cors).end(JSON.stringify({ error: 'invalid_grant' }));
          const now = Math.floor(Date.now() / 1000);
          const token = await new SignJWT({ preferred_username: 'ida', groups: ['wf-ops'] })
            .setProtectedHeader({ alg: 'ES256', kid: 'console-test', typ: 'JWT' })
            .setSubject('user-ida')
            .setIssuer(`${idpUrl}/realm`)
            .setAudience('workflow-console')
            .setIssuedAt(now)
            .setExpirationTime(now + 600)
            .sign(privateKey);
          res.writeHead(200, cors).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 600 }));
        })();
      });
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) {
    const built = spawnSync('npm', ['run', 'build:console'], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build:console failed');
  }
  mkdirSync(SHOTS, { recursive: true });
  peer = await startHttpSink();
  peer.respond = (req) =>
    (req.path.startsWith('/batch') ? batchPeerDown : peerDown) ? { status: 400, body: { error: 'not yet' } } : { status: 200, body: { ok: true } };
  const [executablePath] = await Promise.all([
    findOrInstallBrowser('chromium', (line) => process.stdout.write(`[console test] ${line}\n`)),
    (async () => {
      await startIdp();
      h = await createHarness({
        env: {
          HTTP_ALLOWED_HOSTS: '127.0.0.1',
          OIDC_JWKS_URL: `${idpUrl}/jwks`,
          OIDC_ISSUER: `${idpUrl}/realm`,
          OIDC_AUDIENCE: 'workflow-console',
          OIDC_ROLES_CLAIM: 'groups',
          OIDC_ROLE_MAP: 'wf-ops:operator',
          OIDC_CONSOLE_CLIENT_ID: 'workflow-console',
          OIDC_AUTHORIZATION_URL: `${idpUrl}/authorize`,
          OIDC_TOKEN_URL: `${idpUrl}/token`,
        },
      });
    })(),
  ]);
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  keys.viewer = (await createApiKey(h.db, { name: 'vera', role: 'viewer' })).key;
  keys.operator = (await createApiKey(h.db, { name: 'olga', role: 'operator' })).key;

  const definitions = [
    {
      key: 'console-orders',
      name: 'Orders',
      description: 'Confirms an order',
      inputSchema: { type: 'object', required: ['orderId'], properties: { orderId: { type: 'string' }, amount: { type: 'number' } } },
      steps: [
        { id: 'price', type: 'set', values: { total: '{{ input.amount }}' } },
        { id: 'check', type: 'condition', condition: 'vars.total > 100', then: [{ id: 'big', type: 'set', values: { big: true } }], else: [{ id: 'small', type: 'set', values: { big: false } }] },
      ],
    },
    { key: 'console-signoff', name: 'Signoff', steps: [{ id: 'signoff', type: 'approval', approvers: ['olga'], timeout: '1h', onTimeout: 'reject' }] },
    { key: 'console-sync', name: 'Sync', steps: [{ id: 'push', type: 'http', url: `${peer.url}/push`, retry: { maximumAttempts: 1 } }] },
    { key: 'console-batch', name: 'Batch', steps: [{ id: 'pull', type: 'http', url: `${peer.url}/batch`, retry: { maximumAttempts: 1 } }] },
    {
      key: 'console-hostile',
      name: HOSTILE,
      description: HOSTILE,
      steps: [{ id: 'explode', type: 'fail', message: `refused ${HOSTILE} {{ input.note }}` }],
    },
  ];
  for (const d of definitions) expect((await h.api('POST', '/api/workflows', d)).status).toBe(201);
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (idp ? idp.close(resolve) : resolve(undefined)));
  await h?.close();
  await peer?.close();
});

/** A new page signed in with `key`, recording every request it makes and every script error. */
/** A browser context whose every wait and action may take {@link UI_WAIT}. */
async function newContext() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(UI_WAIT);
  return context;
}

async function signedIn(key: string): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const context = await newContext();
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${h.baseUrl}/console/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return { page, requests, errors };
}

async function start(key: string, triggerData: Record<string, unknown> = {}) {
  const started = await h.api('POST', `/api/workflows/${key}/execute`, { triggerData });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.executionId as string;
}

async function settled(executionId: string, status?: string) {
  return eventually(async () => {
    const row = await h.db.selectFrom('workflow_executions').select('status').where('id', '=', executionId).executeTakeFirst();
    return row && !['PENDING', 'RUNNING'].includes(row.status) && (!status || row.status === status) ? row.status : undefined;
  });
}

describe('the console', { timeout: TEST_TIMEOUT }, () => {
  it('signs in with a key and draws the overview from real runs', async () => {
    for (const amount of [50, 150, 300]) await settled(await start('console-orders', { orderId: `A-${amount}`, amount }));
    await settled(await start('console-sync'), 'FAILED');
    await refreshReports(h.db);

    const { page, requests, errors } = await signedIn(h.adminKey);
    await expect.poll(() => page.getByText('Runs ended').locator('..').locator('.tile-value').textContent(), { timeout: UI_WAIT }).toBe('4');
    // uPlot drew its canvas, with the legend of the three series.
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('.chart .u-legend').textContent()).toMatch(/ended.*failed.*success %/);
    await expect.poll(() => page.getByRole('region', { name: 'Failing steps' }).textContent(), { timeout: UI_WAIT }).toContain('push');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
    // Nothing but the gateway was asked for anything, and no script failed.
    const origin = new URL(h.baseUrl).origin;
    expect(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'))).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("signs in through the organization's OIDC provider, with PKCE, and acts with the token's role", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${h.baseUrl}/console/#/approvals`);
    const errors: string[] = [];
    page.on('console', (m) => errors.push(m.text()));
    await page.getByRole('button', { name: "Sign in with your organization's account" }).click();
    await page.getByRole('heading', { name: 'Approvals' }).waitFor().catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await page.locator('body').textContent()}\n${errors.join('\n')}`);
    });
    // Back where it was, as Ida with the role her group maps to; the code is gone from the address.
    expect(await page.locator('.who').textContent()).toMatch(/ida\s*operator/);
    expect(page.url()).toBe(`${h.baseUrl}/console/#/approvals`);
    expect(idpSeen).toEqual({ challenge: expect.stringMatching(/^[\w-]{43}$/), verifierMatched: true });
    // The policy lets the page reach the provider's token endpoint, and nothing else outside.
    const policy = (await fetch(`${h.baseUrl}/console/`)).headers.get('content-security-policy') ?? '';
    expect(policy).toContain(`connect-src 'self' ${idpUrl}`);
    await page.screenshot({ path: join(SHOTS, 'signed-in-oidc.png') });
    await context.close();
  });

  it("starts a run from a definition's form and follows it to its end", async () => {
    const { page } = await signedIn(h.adminKey);
    await page.getByRole('navigation').getByRole('link', { name: 'Definitions' }).click();
    await page.getByRole('link', { name: 'console-orders' }).click();
    // The outline shows the condition's two branches.
    await expect.poll(() => page.getByRole('region', { name: 'Steps' }).textContent(), { timeout: UI_WAIT }).toMatch(/check\s*condition.*then \(when vars\.total > 100\).*big.*else.*small/s);
    await page.getByLabel('orderId (required)').fill('B-7');
    await page.getByLabel('amount').fill('120');
    await page.screenshot({ path: join(SHOTS, 'definition.png'), fullPage: true });
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    await page.locator('h1 .status-success').waitFor();
    await expect.poll(() => page.getByRole('region', { name: 'Steps' }).textContent(), { timeout: UI_WAIT }).toMatch(/price.*COMPLETED.*check.*COMPLETED.*big.*COMPLETED/s);
    // Ended: what only an open run offers is gone, what an ended one offers is there.
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Replay' }).count()).toBe(1);
    expect(await page.locator('details.card pre').textContent()).toContain('"orderId": "B-7"');
    await page.screenshot({ path: join(SHOTS, 'run.png'), fullPage: true });
    await page.context().close();
  });

  it("shows a schedule trigger's next fire times and a diff between two versions", async () => {
    const nightly = { key: 'console-nightly', name: 'Nightly', trigger: { type: 'schedule', cron: '30 2 * * *', timezone: 'Europe/Paris' }, steps: [{ id: 'only', type: 'set', values: { n: 1 } }] };
    expect((await h.api('POST', '/api/workflows', nightly)).status).toBe(201);
    expect((await h.api('PUT', '/api/workflows/console-nightly', { ...nightly, steps: [{ id: 'only', type: 'set', values: { n: 2 } }] })).status).toBe(200);
    const { page } = await signedIn(h.adminKey);
    await page.goto(`${h.baseUrl}/console/#/definitions/console-nightly`);
    const times = page.getByRole('list', { name: 'Next fire times' }).getByRole('listitem');
    await expect.poll(() => times.count(), { timeout: UI_WAIT }).toBe(5);
    // 02:30 in Paris is 01:30 UTC in winter.
    expect(await times.first().textContent()).toMatch(/ 0[01]:30:00 UTC$/);
    const diff = page.getByLabel('Changes from version 1 to version 2');
    await expect.poll(() => diff.textContent(), { timeout: UI_WAIT }).toMatch(/- +"n": 1\s*\+ +"n": 2/);
    await page.screenshot({ path: join(SHOTS, 'schedule-and-diff.png'), fullPage: true });
    await page.context().close();
  });

  it('decides two cards in a row, each with its own comment, and shows which run each card is', async () => {
    const first = await start('console-signoff', { orderId: 'SO-1001' });
    await eventually(async () => ((await h.api('GET', '/api/approvals?mine=false')).body.items.some((a: { executionId: string }) => a.executionId === first) ? true : undefined));
    const second = await start('console-signoff', { orderId: 'SO-2002', note: HOSTILE });
    await eventually(async () => ((await h.api('GET', '/api/approvals?mine=false')).body.items.some((a: { executionId: string }) => a.executionId === second) ? true : undefined));
    const { page, errors } = await signedIn(keys.operator);
    await page.getByRole('navigation').getByRole('link', { name: 'Approvals' }).click();
    // Oldest first: the first run's card, then the second's, each with its trigger data, definition and version.
    const cards = page.locator('.approval', { hasText: 'console-signoff' });
    await expect.poll(() => cards.count(), { timeout: UI_WAIT }).toBe(2);
    expect(await cards.nth(0).textContent()).toMatch(/console-signoff v1 · signoff.*Signoff.*Trigger data \{"orderId":"SO-1001"\}/s);
    // As the mirror keeps it (jsonb orders keys by length), the hostile note as text.
    expect(await cards.nth(1).textContent()).toContain(`{"note":${JSON.stringify(HOSTILE)},"orderId":"SO-2002"}`);
    expect(await page.locator('main img').count()).toBe(0);
    const firstCard = page.locator('.approval', { hasText: 'SO-1001' });
    const secondCard = page.locator('.approval', { hasText: 'SO-2002' });
    await firstCard.getByLabel('Comment').fill('fine by me');
    await page.screenshot({ path: join(SHOTS, 'approvals.png'), fullPage: true });
    await firstCard.getByRole('button', { name: 'Approve' }).click();
    await firstCard.waitFor({ state: 'detached' });
    // The card now first in the list is the other run's, and holds nothing typed for the first.
    expect(await secondCard.getByLabel('Comment').inputValue()).toBe('');
    await secondCard.getByLabel('Comment').fill('not this one');
    await secondCard.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('Nothing is waiting.').waitFor();
    expect(await settled(first)).toBe('SUCCESS');
    await settled(second);
    const decisions = await h.db.selectFrom('approval_decisions').selectAll().where('execution_id', 'in', [first, second]).execute();
    expect(decisions.map((d) => [d.execution_id, d.decided_by, d.decision, d.comment]).sort()).toEqual(
      [
        [first, 'olga', 'approve', 'fine by me'],
        [second, 'olga', 'reject', 'not this one'],
      ].sort(),
    );
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('resets a failed run to its failed step, asking first and for a reason', async () => {
    const executionId = await start('console-sync');
    await settled(executionId, 'FAILED');
    peerDown = false;
    const { page } = await signedIn(h.adminKey);
    await page.goto(`${h.baseUrl}/console/#/runs?definition=console-sync&status=FAILED`);
    await page.locator(`a[href="#/runs/${executionId}"]`).click();
    await page.getByRole('button', { name: 'Reset to the failed step' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset this run to the failed step?' });
    // No reason, no reset.
    expect(await dialog.getByRole('button', { name: 'Reset to the failed step' }).isDisabled()).toBe(true);
    await dialog.getByLabel('Reason (kept in the audit log)').fill('the peer is back');
    await dialog.getByRole('button', { name: 'Reset to the failed step' }).click();
    await page.locator('h1 .status-success').waitFor();
    const audit = await h.api('GET', `/api/audit?target=${executionId}`);
    expect(audit.body.items[0]).toMatchObject({ action: 'execution.reset', reason: 'the peer is back' });
    await page.context().close();
  });

  it('recovers a failure group from the overview: a dry run, then a batch followed to its end', async () => {
    const failed = [await start('console-batch'), await start('console-batch'), await start('console-batch')];
    for (const id of failed) await settled(id, 'FAILED');
    await refreshReports(h.db);
    // The runs list takes the same group: the runs in which that step failed.
    const listed = await h.api('GET', '/api/executions?definition=console-batch&failedStep=pull');
    expect(listed.body.items.map((r: { id: string }) => r.id).sort()).toEqual([...failed].sort());
    expect((await h.api('GET', '/api/executions?definition=console-batch&failedStep=other')).body.items).toEqual([]);
    expect((await h.api('GET', '/api/executions?failedStep=1-bad')).status).toBe(400);
    const { page } = await signedIn(h.adminKey);
    const row = page.getByRole('region', { name: 'Failing steps' }).locator('tr', { hasText: 'console-batch' });
    await row.getByRole('link', { name: 'Recover…' }).click();
    await page.getByRole('heading', { name: 'Recover failed runs' }).waitFor();
    await page.getByRole('button', { name: 'Dry run' }).click();
    const preview = page.getByRole('region', { name: 'What would happen' });
    await preview.getByText('3 runs match. Nothing has changed yet.').waitFor();
    expect(await preview.locator('tbody tr').first().textContent()).toMatch(/console-batch\s*1\s*pull\s*ProviderRejected\s*3/);
    await page.screenshot({ path: join(SHOTS, 'recovery.png'), fullPage: true });
    // The dry run changed nothing.
    for (const id of failed) expect(await settled(id)).toBe('FAILED');

    batchPeerDown = false;
    await page.getByRole('button', { name: 'Reset 3 runs' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset 3 runs?' });
    await dialog.getByLabel('Reason (kept in the audit log)').fill('the batch peer is back');
    await dialog.getByRole('button', { name: 'Reset 3 runs' }).click();
    await page.waitForURL(/#\/batches\/[0-9a-f-]{36}$/);
    await page.locator('h1 .status-completed').waitFor();
    expect(await page.locator('main').textContent()).toContain('done 3 · failed 0 · skipped 0');
    await page.screenshot({ path: join(SHOTS, 'batch.png'), fullPage: true });
    for (const id of failed) expect(await settled(id, 'SUCCESS')).toBe('SUCCESS');
    await page.context().close();
  });

  it('shows a viewer no control it may not use, and what a run sent, with why a send failed', async () => {
    const executionId = await start('console-signoff');
    await eventually(async () => ((await h.api('GET', `/api/executions/${executionId}`)).body.live?.approvals?.length ? true : undefined));
    // A ledger row as a notification step through a connection writes it (no mail server here).
    const { workflowId } = (await h.api('GET', `/api/executions/${executionId}`)).body as { workflowId: string };
    await h.db
      .insertInto('deliveries')
      .values([
        { delivery_key: `${workflowId}/notify`, channel: 'email', status: 'SENT', attempts: 1, workflow_id: workflowId, step_path: 'notify', recipient: 'ada@example.test', connection: 'console-mail', connection_version: 2, provider_message_id: null, result: null, last_error: null },
        { delivery_key: `${workflowId}/text`, channel: 'sms', status: 'FAILED', attempts: 1, workflow_id: workflowId, step_path: 'text', recipient: '+15550001234', connection: 'console-sms', connection_version: 1, provider_message_id: null, result: null, last_error: 'Twilio answered 400 (21211): invalid To number' },
      ])
      .execute();
    const { page } = await signedIn(keys.viewer);
    await page.goto(`${h.baseUrl}/console/#/runs/${executionId}`);
    await page.getByRole('heading', { name: /^Run / }).waitFor();
    await page.getByRole('region', { name: 'Live state' }).waitFor();
    const deliveries = page.getByRole('region', { name: 'Deliveries' }).locator('tbody tr');
    await expect.poll(() => deliveries.filter({ hasText: 'notify' }).textContent(), { timeout: UI_WAIT }).toMatch(/^email\s*notify\s*SENT\s*1\s*ada@example\.test\s*console-mail@2/);
    // A failed send says why, under its status.
    expect(await deliveries.filter({ hasText: '+15550001234' }).textContent()).toMatch(/^sms\s*text\s*FAILED\s*Twilio answered 400 \(21211\): invalid To number\s*1\s*\+15550001234\s*console-sms@1/);
    expect(await page.getByRole('group', { name: 'Actions' }).getByRole('button').count()).toBe(0);
    for (const name of ['Cancel', 'Terminate', 'Replay', 'Reset to the failed step']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    await page.goto(`${h.baseUrl}/console/#/definitions/console-orders`);
    await page.getByRole('region', { name: 'Steps' }).waitFor();
    expect(await page.getByRole('form', { name: 'Start a run' }).count()).toBe(0);
    await page.goto(`${h.baseUrl}/console/#/approvals`);
    await page.locator('.approval', { hasText: 'console-signoff' }).waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'viewer-approvals.png'), fullPage: true });
    await page.context().close();
  });

  it('shows hostile names, trigger data and errors as text, and runs none of it', async () => {
    const executionId = await start('console-hostile', { note: HOSTILE, [HOSTILE]: HOSTILE });
    await settled(executionId, 'FAILED');
    await refreshReports(h.db);
    const { page, errors } = await signedIn(h.adminKey);
    for (const route of ['#/definitions', '#/definitions/console-hostile', `#/runs/${executionId}`, '#/runs?definition=console-hostile', '#/']) {
      await page.goto(`${h.baseUrl}/console/${route}`);
      await page.locator('main h1').waitFor();
      // The page has drawn the run's or the definition's data (the hostile text, or its key), so whatever it would run has run.
      await expect.poll(() => page.locator('main').textContent(), { timeout: UI_WAIT }).toMatch(/console-hostile|<img src=x/);
      // Drawn as text: had it been drawn as markup, its image would be there now, whether or not its handler ran yet.
      expect(await page.locator('main img').count()).toBe(0);
    }
    await page.goto(`${h.baseUrl}/console/#/runs/${executionId}`);
    await page.locator('h1 .status-failed').waitFor();
    await page.locator('details.card summary').click();
    expect(await page.locator('main').textContent()).toContain(`refused ${HOSTILE} ${HOSTILE}`);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('can be used with the keyboard alone', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${h.baseUrl}/console/`);
    // This gateway offers OIDC too: its button comes first, once the page knows (from its settings).
    await page.getByRole('button', { name: "Sign in with your organization's account" }).waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id)).toBe('api-key');
    await page.keyboard.type(h.adminKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // The brand, then the sections: the third stop is Definitions.
    for (let i = 0; i < 3; i += 1) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Definitions' }).waitFor();
    await context.close();
  });

  it('works in Firefox too: signing in, the overview with its chart, the runs and a run', async () => {
    const executablePath = await findOrInstallBrowser('firefox', (line) => process.stdout.write(`[console test] ${line}\n`));
    const executionId = await start('console-orders', { orderId: 'F-1', amount: 5 });
    await settled(executionId, 'SUCCESS');
    const firefox = await puppeteer.launch({ browser: 'firefox', executablePath, headless: true });
    try {
      const page = await firefox.newPage();
      page.setDefaultTimeout(UI_WAIT);
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${h.baseUrl}/console/`);
      await page.waitForSelector('#api-key');
      await page.type('#api-key', h.adminKey);
      await page.keyboard.press('Enter');
      await page.waitForSelector('.chart canvas');
      expect(await page.$eval('.tile-value', (e) => e.textContent)).toMatch(/^\d+$/);
      await page.goto(`${h.baseUrl}/console/#/runs?definition=console-orders`);
      await page.waitForSelector(`a[href="#/runs/${executionId}"]`);
      await page.click(`a[href="#/runs/${executionId}"]`);
      await page.waitForSelector('h1 .status-success');
      expect(await page.$eval('main', (e) => e.textContent)).toContain('open in the Temporal UI');
      await page.screenshot({ path: join(SHOTS, 'run-firefox.png') });
      expect(errors).toEqual([]);
    } finally {
      await firefox.close();
    }
  });

  it('is served with a policy that allows only the gateway, and weighs under 200 KB of script', async () => {
    const res = await fetch(`${h.baseUrl}/console/`);
    expect(res.status).toBe(200);
    const policy = res.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    expect(policy).toContain("frame-ancestors 'none'");
    const scripts = readdirSync(join(CONSOLE_DIR, 'assets')).filter((f) => f.endsWith('.js'));
    const bytes = scripts.reduce((n, f) => n + statSync(join(CONSOLE_DIR, 'assets', f)).size, 0);
    expect(bytes).toBeLessThan(200 * 1024);
    // A phone-sized screen still gets the whole page.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    await page.goto(`${h.baseUrl}/console/`);
    await page.getByLabel('API key').fill(h.adminKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'overview-phone.png'), fullPage: true });
    await context.close();
  });
});
