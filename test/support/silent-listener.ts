/**
 * A TCP listener on loopback that accepts connections (the kernel's accept)
 * and then never answers: a peer that is up but stuck, for the tests of
 * connect timeouts.
 */
import net from 'node:net';

export interface SilentListener {
  port: number;
  close(): void;
}

export async function silentListener(): Promise<SilentListener> {
  const server = net.createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}
