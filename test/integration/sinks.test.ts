/**
 * The loopback peers take nothing from a client that has gone, once told to
 * (`deadClientGuard`): the tests that kill a worker mid-send rely on it to
 * keep the delivery ledger's blind spot shut (test/support/deliveries.ts).
 *
 * The client writes a whole request over TCP and kills itself while this
 * process is blocked in `spawnSync`, so the peer reads the request and the
 * client's close only afterwards, in whatever turns it reads them: as a busy
 * peer read a killed worker's last send after a test released its hold. (The
 * SMTP peer's guard is the same; a mail cannot be written whole this way, as
 * the server answers each command before it reads the next.)
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpSink, startHttpSink } from '../../scripts/lib/sinks';
import { eventually } from '../support/harness';

/** A client that connects to `port`, writes `text` and kills itself once it is written. */
function writeAndDie(port: number, text: string): void {
  const script = `
    const socket = require('node:net').connect(${port}, '127.0.0.1', () =>
      socket.write(${JSON.stringify(text)}, () => process.kill(process.pid, 'SIGKILL')));`;
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 60_000 });
  expect(child.signal).toBe('SIGKILL');
}

const REQUEST = 'POST /hooks HTTP/1.1\r\nHost: peer\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"sent":1}';

let http: HttpSink | undefined;

afterEach(async () => {
  await http?.close();
  http = undefined;
});

describe('a peer', () => {
  it('records a request whose client died after sending it, by default', async () => {
    http = await startHttpSink();
    writeAndDie(Number(new URL(http.url).port), REQUEST);
    await eventually(async () => (http!.requests.length === 1 ? true : undefined));
    expect(http.dropped).toEqual([]);
  });

  it('drops that request under the guard', async () => {
    http = await startHttpSink();
    http.deadClientGuard = true;
    writeAndDie(Number(new URL(http.url).port), REQUEST);
    await eventually(async () => (http!.dropped.length === 1 ? true : undefined));
    expect(http.dropped[0]).toMatchObject({ method: 'POST', path: '/hooks', json: { sent: 1 } });
    expect(http.requests).toEqual([]);
  });
});
