/**
 * Asking the server itself why a TLS connection fails. Under TLS 1.3 the
 * server checks the client's certificate after the client holds the handshake
 * done, so a gRPC call may see only "connection closed" where the server did
 * send an alert saying why (unknown CA, bad certificate): which of the two a
 * call sees is a race. A bare TLS connection waits for that alert.
 */
import { connect } from 'node:tls';
import { temporalRefusal } from './client';
import { hostAndPort, type TemporalTls } from './connection-options';

/**
 * Why the server at `address` refuses a TLS connection with `tls` (a line
 * from {@link temporalRefusal}), or undefined when the connection holds for
 * `holdMs` after its handshake, or fails for another reason (nothing listens).
 */
export function tlsRefusalOf(address: string, tls: TemporalTls, holdMs = 1_000): Promise<string | undefined> {
  const { host, port } = hostAndPort(address);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const socket = connect({
      host,
      port,
      // gRPC servers take only HTTP/2.
      ALPNProtocols: ['h2'],
      ...(tls.serverName || !/^[\d.]+$|:/.test(host) ? { servername: tls.serverName ?? host } : {}),
      ...(tls.serverCaCert ? { ca: tls.serverCaCert } : {}),
      ...(tls.client ? { cert: tls.client.cert, key: tls.client.key } : {}),
    });
    socket.once('secureConnect', () => {
      timer = setTimeout(() => done(undefined), holdMs);
    });
    socket.once('error', (err) => done(temporalRefusal(err)));
    socket.once('close', () => done(undefined));
    socket.setTimeout(holdMs + 5_000, () => done(undefined));
  });
}
