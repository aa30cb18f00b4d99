/**
 * Certificates for a Temporal server with mTLS on its frontend, made with
 * openssl: a CA, a server certificate for localhost and 127.0.0.1, and client
 * certificates signed by that CA. For `npm run cluster -- --tls` and the tests;
 * production brings its own.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The files {@link generateCertificates} writes. */
export interface ServerCertificates {
  dir: string;
  /** The CA's certificate (its key stays beside it, `ca-key.pem`). */
  ca: string;
  /** The frontend's certificate and key, for localhost and 127.0.0.1. */
  serverCert: string;
  serverKey: string;
  /** A client certificate the frontend accepts (CN `client`), for the product's processes and the server's own system worker. */
  clientCert: string;
  clientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const { code, stderr } = err as { code?: string; stderr?: string };
    if (code === 'ENOENT') throw new Error('openssl is not installed: install it (apt-get install openssl) to generate the certificates');
    throw new Error(`openssl ${args[0]} failed: ${stderr?.trim().split('\n').at(-1) ?? String(err)}`);
  }
}

/** A P-256 key in PKCS #8, which Go, rustls (the worker) and OpenSSL (the client) all read. */
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Makes a CA named `name` in `dir` (`<name>.pem`, `<name>-key.pem`), valid for `days`. */
export async function generateCa(dir: string, name = 'ca', days = 30): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  await openssl(
    ['req', '-x509', ...KEY_ARGS, '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return { cert, key };
}

/**
 * Makes a certificate named `name` in `dir`, signed by `ca`, valid for `days`:
 * for a server (`server`: its DNS names and IP addresses) or a client.
 */
export async function generateSigned(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  use: { server: string[] } | 'client',
  days = 30,
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  const extensions =
    use === 'client'
      ? ['extendedKeyUsage=clientAuth']
      : [
          'extendedKeyUsage=serverAuth',
          `subjectAltName=${use.server.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`,
        ];
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions, ''].join('\n'));
  await openssl(['req', '-new', ...KEY_ARGS, '-keyout', key, '-out', join(dir, `${name}.csr`), '-subj', `/CN=${name}`], dir);
  await openssl(
    ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', String(days), '-extfile', extFile],
    dir,
  );
  return { cert, key };
}

/** A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, in `dir`. */
export async function generateCertificates(dir: string): Promise<ServerCertificates> {
  const ca = await generateCa(dir);
  // One after the other: each signature updates the CA's serial file.
  const server = await generateSigned(dir, ca, 'server', { server: ['localhost', '127.0.0.1'] });
  const client = await generateSigned(dir, ca, 'client', 'client');
  return { dir, ca: ca.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
