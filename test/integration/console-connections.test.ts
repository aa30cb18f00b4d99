/**
 * The console's connections page in Debian's Chromium (playwright-core)
 * against a real gateway, worker, Temporal dev server, Postgres and a
 * loopback SMTP server: an admin creates a connection, sees it listed with its
 * secret masked, tests it, updates it keeping its secret, sees the delivery
 * a run made through it counted, clears its secret, and deletes it once the
 * definition naming it is confirmed; a viewer reads the list without a
 * control to change it. Screenshots go to test-results/console/.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../db/api-keys';
import { refreshReports } from '../../db/reports';
import { findOrInstallBrowser } from '../../scripts/lib/browsers';
import { type SmtpSink, startSmtpSink } from '../../scripts/lib/sinks';
import { CONSOLE_DIR } from '../../src/gateway/routes/console';
import { createHarness, type Harness } from '../support/harness';
import { runTimeout } from '../support/timeouts';

const SHOTS = join('test-results', 'console');
/** The longest one wait on a page may take: a page load or an API call on a loaded machine. */
const UI_WAIT = runTimeout({ runs: 1, steps: 2 });
/** A browser started, a run of one step, a few pages. */
const TEST_TIMEOUT = runTimeout({ runs: 2, steps: 2, extra: '30s' });
/** The password the page must never show. */
const CANARY = `CANARY${randomBytes(8).toString('hex')}`;

let h: Harness;
let browser: Browser;
let smtp: SmtpSink;
let viewerKey: string;

beforeAll(async () => {
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) {
    const built = spawnSync('npm', ['run', 'build:console'], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build:console failed');
  }
  mkdirSync(SHOTS, { recursive: true });
  smtp = await startSmtpSink();
  const [executablePath] = await Promise.all([
    findOrInstallBrowser('chromium', (line) => process.stdout.write(`[console test] ${line}\n`)),
    (async () => {
      h = await createHarness({ env: { CONNECTION_KEYS: `console:${randomBytes(32).toString('base64')}` } });
    })(),
  ]);
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  viewerKey = (await createApiKey(h.db, { name: 'vera', role: 'viewer' })).key;
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await smtp?.close();
});

async function signedIn(key: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(UI_WAIT);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('409') && errors.push(m.text()));
  await page.goto(`${h.baseUrl}/console/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return { page, errors };
}

const rowOf = (page: Page, name: string) => page.locator(`tr[data-connection="${name}"]`);

describe('the connections page', { timeout: TEST_TIMEOUT }, () => {
  it('creates a connection, lists it with its secret masked, tests it, updates it keeping the secret, clears the secret, and deletes it', async () => {
    const { page, errors } = await signedIn(h.adminKey);
    await page.getByRole('navigation').getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('heading', { name: 'Connections' }).waitFor();

    await page.getByRole('button', { name: 'New connection' }).click();
    const create = page.getByRole('form', { name: 'New connection' });
    await create.getByLabel('Name').fill('ops-mail');
    await create.getByLabel('Type').selectOption('smtp');
    await create.getByLabel('host (required)').fill('127.0.0.1');
    await create.getByLabel('port').fill(String(smtp.port));
    await create.getByLabel('user').fill('ops');
    await create.getByLabel('from (required)').fill('ops@example.test');
    await create.getByLabel('pass').fill(CANARY);
    // Each field says what it means, from its type's declaration in the API: a hint that describes its input.
    const portHint = await create.getByLabel('port').getAttribute('aria-describedby');
    expect(await create.locator(`#${portHint}`).textContent()).toBe('its port: 587 for STARTTLS, 465 with secure');
    expect(await create.getByLabel('quietHours').getAttribute('placeholder')).toBe('{"start":"21:00","end":"08:00","timeZone":"Europe/Berlin"}');
    await page.screenshot({ path: join(SHOTS, 'connection-form.png'), fullPage: true });
    await create.getByRole('button', { name: 'Create' }).click();

    const row = rowOf(page, 'ops-mail');
    await row.waitFor();
    await create.waitFor({ state: 'detached' });
    const stored = (await h.api('GET', '/api/connections/ops-mail')).body as { secrets: { pass: { fingerprint: string } }; version: number };
    expect(stored.version).toBe(1);
    const listed = await row.textContent();
    expect(listed).toMatch(/ops-mail.*smtp.*host127\.0\.0\.1.*userops.*fromops@example\.test/s);
    expect(listed).toContain(`set · ${stored.secrets.pass.fingerprint}`);
    expect(await page.locator('body').innerHTML()).not.toContain(CANARY);

    await row.getByRole('button', { name: 'Test' }).click();
    await expect
      .poll(() => row.getByRole('status').textContent(), { timeout: UI_WAIT })
      .toBe(`check passed (version 1): 127.0.0.1:${smtp.port} accepted the connection and the login of ops`);
    await page.screenshot({ path: join(SHOTS, 'connections.png'), fullPage: true });

    // A new version: the sender and a pacing rate change; the password, left blank, is kept.
    await row.getByRole('button', { name: 'Edit' }).click();
    const update = page.getByRole('form', { name: 'Update ops-mail' });
    expect(await update.getByLabel('host (required)').inputValue()).toBe('127.0.0.1');
    expect(await update.getByLabel('pass', { exact: true }).inputValue()).toBe('');
    await update.getByLabel('from (required)').fill('alerts@example.test');
    await update.getByLabel('perMinute').fill('30');
    await update.getByRole('button', { name: 'Save a new version' }).click();
    await update.waitFor({ state: 'detached' });
    await expect.poll(() => row.textContent(), { timeout: UI_WAIT }).toMatch(/fromalerts@example\.test/);
    const updated = (await h.api('GET', '/api/connections/ops-mail')).body as typeof stored & { settings: Record<string, unknown> };
    expect(updated).toMatchObject({ version: 2, settings: { from: 'alerts@example.test', perMinute: 30, user: 'ops' } });
    expect(updated.secrets.pass.fingerprint).toBe(stored.secrets.pass.fingerprint);
    await row.getByRole('button', { name: 'Test' }).click();
    await expect.poll(() => row.getByRole('status').textContent(), { timeout: UI_WAIT }).toMatch(/^check passed \(version 2\)/);

    // A definition names it and sends through it: the row counts the delivery and names the definition.
    const definition = { key: 'console-mailer', name: 'Mailer', steps: [{ id: 'tell', type: 'email', connection: 'ops-mail', to: 'a@example.test', subject: 's', text: 't' }] };
    expect((await h.api('POST', '/api/workflows', definition)).status).toBe(201);
    const started = await h.api('POST', '/api/workflows/console-mailer/execute', { triggerData: {} });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect((await h.client.workflow.getHandle(started.body.workflowId).result()).status).toBe('SUCCESS');
    expect(smtp.messages.map((m) => m.from)).toEqual(['alerts@example.test']);
    await refreshReports(h.db);
    await page.reload();
    await expect.poll(() => row.textContent(), { timeout: UI_WAIT }).toMatch(/console-mailer v1.*1 sent/s);

    // Another version clears the password (the login then goes without one): it is shown as not set.
    await row.getByRole('button', { name: 'Edit' }).click();
    const clearing = page.getByRole('form', { name: 'Update ops-mail' });
    await clearing.getByLabel('Clear pass').check();
    expect(await clearing.getByLabel('pass', { exact: true }).isDisabled()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'connection-clear-secret.png'), fullPage: true });
    await clearing.getByRole('button', { name: 'Save a new version' }).click();
    await clearing.waitFor({ state: 'detached' });
    await expect.poll(() => row.textContent(), { timeout: UI_WAIT }).toMatch(/passnot set/);
    const cleared = (await h.api('GET', '/api/connections/ops-mail')).body as typeof updated;
    expect(cleared).toMatchObject({ version: 3, settings: { from: 'alerts@example.test', perMinute: 30, user: 'ops' }, secrets: { pass: { set: false } } });
    // The deletion is refused, naming the definition, until confirmed.
    await row.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete connection ops-mail?' });
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent(), { timeout: UI_WAIT }).toMatch(/console-mailer v1/);
    await page.screenshot({ path: join(SHOTS, 'connection-in-use.png'), fullPage: true });
    await dialog.getByRole('button', { name: 'Delete anyway' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await h.api('GET', '/api/connections/ops-mail')).status).toBe(404);
    const audit = (await h.api('GET', '/api/audit?target=connection:ops-mail')).body as { items: { action: string }[] };
    expect(audit.items.map((a) => a.action).sort()).toEqual(['connection.create', 'connection.delete', 'connection.update', 'connection.update']);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows a viewer the connections without a control to change them', async () => {
    const created = await h.api('POST', '/api/connections', { name: 'sales-teams', type: 'teams', secrets: { webhookUrl: `https://teams.example.test/${CANARY}` } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { page } = await signedIn(viewerKey);
    await page.goto(`${h.baseUrl}/console/#/connections`);
    const row = rowOf(page, 'sales-teams');
    await row.waitFor();
    expect(await row.textContent()).toMatch(/webhookUrlset · hmac-sha256:[0-9a-f]{12}/);
    expect(await page.locator('body').innerHTML()).not.toContain(CANARY);
    for (const name of ['New connection', 'Edit', 'Test', 'Delete']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    await page.context().close();
  });
});
