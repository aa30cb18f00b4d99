import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCa, generateSigned } from '../../scripts/lib/certificates';
import { ConfigError, loadConfig } from '../../src/config';
import { describeSecurity, hostAndPort, PLAIN, temporalConnectionOptions, temporalConnectionSecurity } from '../../src/temporal/connection-options';

let dir: string;
/** Paths of a CA, a client pair it signed, a server pair, and a client pair of another CA. */
let files: Record<'ca' | 'clientCert' | 'clientKey' | 'serverCert' | 'serverKey' | 'strangerCert' | 'strangerKey', string>;
let pem: Record<keyof typeof files, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wfa-tls-unit-'));
  const ca = await generateCa(dir);
  const client = await generateSigned(dir, ca, 'client', 'client');
  const server = await generateSigned(dir, ca, 'server', { server: ['localhost', '127.0.0.1'] });
  const stranger = await generateSigned(dir, await generateCa(dir, 'other-ca'), 'stranger', 'client');
  files = {
    ca: ca.cert,
    clientCert: client.cert,
    clientKey: client.key,
    serverCert: server.cert,
    serverKey: server.key,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
  };
  pem = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([name, path]) => [name, await readFile(path, 'utf8')]))) as typeof pem;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mtls = () => ({
  TEMPORAL_TLS_CLIENT_CERT_PATH: files.clientCert,
  TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientKey,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca,
});

/** The one problem `env` stops a process with. */
function problem(env: Record<string, string>, now?: Date): string {
  const result = temporalConnectionSecurity(env, now);
  if (!(result instanceof Error)) throw new Error('expected a problem');
  expect(result.message).not.toContain('\n');
  return result.message;
}

function security(env: Record<string, string>) {
  const result = temporalConnectionSecurity(env);
  if (result instanceof Error) throw result;
  return result;
}

describe('the connection to Temporal without any of its variables', () => {
  it('is the plain connection to localhost:7233 in the default namespace, as before', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://localhost/x' });
    expect(config.temporal.address).toBe('localhost:7233');
    expect(config.temporal.namespace).toBe('default');
    expect(config.temporal.security).toEqual(PLAIN);
    expect(temporalConnectionOptions(config.temporal)).toEqual({ address: 'localhost:7233' });
    expect(describeSecurity(config.temporal.security)).toBe('plain');
  });

  it('takes TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE as they are, empty ones too', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://localhost/x', TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'prod', TEMPORAL_TLS: '' });
    expect(temporalConnectionOptions(config.temporal)).toEqual({ address: 'temporal:7233' });
    expect(config.temporal.namespace).toBe('prod');
    expect(loadConfig({ DATABASE_URL: 'postgres://localhost/x', TEMPORAL_ADDRESS: '' }).temporal.address).toBe('');
  });
});

describe('the connection options', () => {
  it('carry the CA and the client pair for mTLS, the same for Connection and NativeConnection', () => {
    const options = temporalConnectionOptions({ address: '127.0.0.1:7233', security: security({ ...mtls(), TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }) });
    expect(options).toEqual({
      address: '127.0.0.1:7233',
      tls: {
        serverNameOverride: 'temporal.internal',
        serverRootCACertificate: Buffer.from(pem.ca),
        clientCertPair: { crt: Buffer.from(pem.clientCert), key: Buffer.from(pem.clientKey) },
      },
    });
    expect(describeSecurity(security(mtls()))).toBe('mTLS as CN=client');
  });

  it('take PEMs inline (_DATA) as well as from files', () => {
    const inline = security({
      TEMPORAL_TLS_CLIENT_CERT_DATA: pem.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_DATA: pem.clientKey,
      TEMPORAL_TLS_SERVER_CA_CERT_DATA: pem.ca,
    });
    expect(inline).toEqual(security(mtls()));
  });

  it('turn TLS on with the system CAs for TEMPORAL_TLS=true or an API key, and off for TEMPORAL_TLS=false', () => {
    expect(temporalConnectionOptions({ address: 'a:1', security: security({ TEMPORAL_TLS: 'true' }) })).toEqual({ address: 'a:1', tls: {} });
    const cloud = security({ TEMPORAL_API_KEY: 'key-123' });
    expect(temporalConnectionOptions({ address: 'a:1', security: cloud })).toEqual({ address: 'a:1', tls: {}, apiKey: 'key-123' });
    expect(describeSecurity(cloud)).toBe('TLS, API key');
    expect(temporalConnectionOptions({ address: 'a:1', security: security({ TEMPORAL_API_KEY: 'key-123', TEMPORAL_TLS: 'false' }) })).toEqual({
      address: 'a:1',
      tls: false,
      apiKey: 'key-123',
    });
    expect(temporalConnectionOptions({ address: 'a:1', security: security({ ...mtls(), TEMPORAL_TLS: 'no' }) })).toEqual({ address: 'a:1' });
  });
});

describe('a profile file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE)', () => {
  it('gives the address, namespace, API key and TLS, under the variables', async () => {
    const file = join(dir, 'temporal.toml');
    await writeFile(
      file,
      [
        '[profile.default]',
        'address = "default.example:7233"',
        '[profile.cloud]',
        'address = "ns.acct.tmprl.cloud:7233"',
        'namespace = "ns.acct"',
        'api_key = "cloud-key-456"',
        '[profile.mtls]',
        'address = "temporal.internal:7233"',
        '[profile.mtls.tls]',
        `client_cert_path = "${files.clientCert}"`,
        `client_key_path = "${files.clientKey}"`,
        `server_ca_cert_path = "${files.ca}"`,
        '',
      ].join('\n'),
    );
    const base = { DATABASE_URL: 'postgres://localhost/x', TEMPORAL_CONFIG_FILE: file };
    expect(loadConfig(base).temporal.address).toBe('default.example:7233');

    const cloud = loadConfig({ ...base, TEMPORAL_PROFILE: 'cloud' });
    expect([cloud.temporal.address, cloud.temporal.namespace]).toEqual(['ns.acct.tmprl.cloud:7233', 'ns.acct']);
    expect(temporalConnectionOptions(cloud.temporal)).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'cloud-key-456' });
    // A key from the file is a secret like one from a variable.
    expect(cloud.secretValues).toContain('cloud-key-456');

    const overridden = loadConfig({ ...base, TEMPORAL_PROFILE: 'mtls', TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'other' });
    expect([overridden.temporal.address, overridden.temporal.namespace]).toEqual(['127.0.0.1:7233', 'other']);
    expect(describeSecurity(overridden.temporal.security)).toBe('mTLS as CN=client');
    expect(overridden.secretValues).toContain(pem.clientKey);
  });

  it('stops the process when missing, malformed, or without the profile, never echoing the file', async () => {
    const broken = join(dir, 'broken.toml');
    await writeFile(broken, '[profile.default]\napi_key = "very-secret-key\n');
    expect(problem({ TEMPORAL_CONFIG_FILE: join(dir, 'nope.toml') })).toBe(`TEMPORAL_CONFIG_FILE names ${join(dir, 'nope.toml')}, which does not exist`);
    const toml = problem({ TEMPORAL_CONFIG_FILE: broken });
    expect(toml).toMatch(/^TEMPORAL_CONFIG_FILE .*broken\.toml is not valid TOML \(line 2, column \d+\)$/);
    expect(toml).not.toContain('very-secret-key');
    const good = join(dir, 'one.toml');
    await writeFile(good, '[profile.default]\naddress = "x:1"\nadress = "typo"\n');
    expect(problem({ TEMPORAL_CONFIG_FILE: good })).toBe(`TEMPORAL_CONFIG_FILE ${good}: key(s) unrecognized in profile.default: adress`);
    await writeFile(good, '[profile.default]\naddress = "x:1"\n');
    expect(problem({ TEMPORAL_CONFIG_FILE: good, TEMPORAL_PROFILE: 'prod' })).toBe(`TEMPORAL_PROFILE is "prod", which ${good} does not have`);
  });
});

describe('a bad certificate or key stops the process with one line', () => {
  it('names a file that is missing', () => {
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: '/nowhere/client.pem' })).toBe(
      'TEMPORAL_TLS_CLIENT_CERT_PATH (/nowhere/client.pem) does not exist',
    );
    expect(problem({ ...mtls(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: dir })).toBe(`TEMPORAL_TLS_SERVER_CA_CERT_PATH (${dir}) is a folder, not a file`);
  });

  it('says what a file holds when it is not what its variable wants', async () => {
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'not a certificate');
    expect(problem({ ...mtls(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: text })).toBe(
      `TEMPORAL_TLS_SERVER_CA_CERT_PATH (${text}) is not a PEM CA certificate (no -----BEGIN CERTIFICATE----- block)`,
    );
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: files.clientKey, TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientCert })).toBe(
      `TEMPORAL_TLS_CLIENT_CERT_PATH (${files.clientKey}) holds a private key, not a client certificate`,
    );
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientCert })).toBe(
      `TEMPORAL_TLS_CLIENT_KEY_PATH (${files.clientCert}) holds a certificate, not a private key`,
    );
    const garbled = join(dir, 'garbled.pem');
    await writeFile(garbled, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: garbled })).toBe(`TEMPORAL_TLS_CLIENT_CERT_PATH (${garbled}) has a certificate that cannot be parsed`);
  });

  it('refuses half a pair, and a pair whose halves do not belong together', () => {
    const { TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...certOnly } = mtls();
    expect(problem(certOnly)).toBe(
      `TEMPORAL_TLS_CLIENT_CERT_PATH (${files.clientCert}) is a client certificate without its key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) too`,
    );
    expect(problem({ TEMPORAL_TLS_CLIENT_KEY_DATA: pem.clientKey })).toBe(
      'TEMPORAL_TLS_CLIENT_KEY_DATA is a client key without its certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) too',
    );
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_KEY_PATH: files.strangerKey })).toBe(
      `TEMPORAL_TLS_CLIENT_CERT_PATH (${files.clientCert}) does not match the key TEMPORAL_TLS_CLIENT_KEY_PATH (${files.strangerKey}): they are not of one pair`,
    );
  });

  it('refuses an expired certificate, and one not meant for a client', () => {
    expect(problem(mtls(), new Date(Date.now() + 400 * 86_400_000))).toMatch(/^TEMPORAL_TLS_CLIENT_CERT_PATH \(.*client\.pem\) expired on \d{4}-\d{2}-\d{2}$/);
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: files.serverCert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.serverKey })).toBe(
      `TEMPORAL_TLS_CLIENT_CERT_PATH (${files.serverCert}) is not for client authentication (its extended key usage lacks clientAuth)`,
    );
  });

  it('refuses a key under a passphrase, and never repeats a key or an API key', async () => {
    const encrypted = join(dir, 'encrypted-key.pem');
    await writeFile(encrypted, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n');
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_KEY_PATH: encrypted })).toMatch(/is encrypted with a passphrase, which the SDK cannot use/);
    const leaked = problem({ TEMPORAL_API_KEY: 'api-key-789', TEMPORAL_TLS_CLIENT_CERT_DATA: pem.clientKey, TEMPORAL_TLS_CLIENT_KEY_DATA: pem.clientKey });
    expect(leaked).toBe('TEMPORAL_TLS_CLIENT_CERT_DATA holds a private key, not a client certificate');
    expect(leaked).not.toContain('api-key-789');
  });

  it('refuses settings the SDK cannot honour or that contradict each other', () => {
    expect(problem({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).toMatch(/^TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported/);
    expect(problem({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_DATA: pem.clientCert })).toMatch(/^TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_CERT_DATA .* are both set: keep one$/);
    expect(problem({ TEMPORAL_TLS: 'maybe' })).toBe('TEMPORAL_TLS must be one of true, false, 1, 0, yes, no');
  });

  it('reaches loadConfig as its one problem', () => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: 'postgres://localhost/x', ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: '/nowhere/client.pem' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['TEMPORAL_TLS_CLIENT_CERT_PATH (/nowhere/client.pem) does not exist']);
  });
});

describe('the host of a Temporal address', () => {
  it.each([
    ['127.0.0.1:7233', '127.0.0.1'],
    ['[::1]:7233', '::1'],
    ['::1', '::1'],
    ['temporal.example.com:7233', 'temporal.example.com'],
    ['temporal', 'temporal'],
  ])('%s is on %s', (address, host) => {
    expect(hostAndPort(address).host).toBe(host);
  });
});
