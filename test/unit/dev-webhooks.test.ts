/**
 * The development webhook secret of `npm run dev`: made once, kept, and the
 * printed curl, run by a real shell, signs as the gateway checks.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devWebhookSecret, signedHookLines } from '../../scripts/lib/dev-webhooks';
import { standardSecretKey, verifyDelivery } from '../../src/gateway/webhook-signature';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wfa-dev-hooks-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the development webhook secret', () => {
  it('is a Standard Webhooks secret, made once, readable by its owner only, and the same at the next start', async () => {
    const file = join(dir, 'data', 'webhook-secret');
    const first = await devWebhookSecret(file);
    expect(first.created).toBe(true);
    expect(first.secret).toMatch(/^whsec_/);
    expect(standardSecretKey(first.secret)).toBeInstanceOf(Buffer);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await devWebhookSecret(file)).toEqual({ secret: first.secret, created: false });
  });

  it('is made again when what is kept is not a usable secret', async () => {
    const file = join(dir, 'broken-secret');
    await writeFile(file, 'not a secret\n');
    const made = await devWebhookSecret(file);
    expect(made.created).toBe(true);
    expect((await readFile(file, 'utf8')).trim()).toBe(made.secret);
  });

  it('comes with shell lines that, pasted, post a delivery the gateway accepts', async () => {
    const { secret } = await devWebhookSecret(join(dir, 'data', 'webhook-secret'));
    const received: { path: string; verdict: ReturnType<typeof verifyDelivery>; body: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const header = (name: string) => req.headers[name] as string | undefined;
        received.push({ path: req.url ?? '', verdict: verifyDelivery({ scheme: 'standard', secrets: [secret] }, header, body), body });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body = { email: "o'brien@example.com", firstName: 'Ada' };
      const script = signedHookLines(url, 'welcome-email', secret, body).join('\n');
      let output = '';
      const code = await new Promise<number | null>((resolve, reject) => {
        // bash -x: a failure says which line failed and what it printed.
        const shell = spawn('bash', ['-xc', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        shell.stdout.on('data', (c: Buffer) => (output += c.toString()));
        shell.stderr.on('data', (c: Buffer) => (output += c.toString()));
        shell.once('error', reject);
        shell.once('close', resolve);
      });
      expect(code, output).toBe(0);
      expect(received, output).toHaveLength(1);
      expect(received[0]!.path).toBe('/api/hooks/welcome-email');
      expect(received[0]!.verdict).toMatchObject({ ok: true, scheme: 'standard' });
      expect(JSON.parse(received[0]!.body)).toEqual(body);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
