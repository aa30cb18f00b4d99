/**
 * How every process reaches the Temporal frontend: plain, TLS, mTLS or an API
 * key, as the SDK's own convention spells it (`@temporalio/envconfig`): a
 * profile of a TOML file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) under the
 * TEMPORAL_* variables, which win. The settings are read and checked once, at
 * start-up (src/config.ts): a certificate or key that is missing, not PEM,
 * expired, or not of a pair stops the process with one line naming the
 * variable or profile key and what is wrong, never a value. One function,
 * {@link temporalConnectionOptions}, turns them into the options of both
 * `Connection` (@temporalio/client) and `NativeConnection` (@temporalio/worker).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ClientConfigProfile, type ConfigDataSource, loadClientConfigProfile } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';

type Environment = Readonly<Record<string, string | undefined>>;

/** Empty strings in a `.env` file mean "not set". */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const optionalBool = optionalString
  .refine((v) => v === undefined || ['true', 'false', '1', '0', 'yes', 'no'].includes(v), { message: 'must be one of true, false, 1, 0, yes, no' })
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

/**
 * The variables of a secured connection, as @temporalio/envconfig names them
 * (TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are settings of their own).
 */
export const temporalConnectionVariables = z.object({
  /** A TOML file of profiles; read only when this or TEMPORAL_PROFILE is set. */
  TEMPORAL_CONFIG_FILE: optionalString,
  /** The profile of that file to use. @default 'default' */
  TEMPORAL_PROFILE: optionalString,
  /** Sent as a bearer token (Temporal Cloud); turns TLS on unless TEMPORAL_TLS is false. Secret. */
  TEMPORAL_API_KEY: optionalString,
  /** TLS with the system's CAs (or TEMPORAL_TLS_SERVER_CA_CERT_*); on by itself when a certificate or API key is set. */
  TEMPORAL_TLS: optionalBool,
  TEMPORAL_TLS_CLIENT_CERT_PATH: optionalString,
  TEMPORAL_TLS_CLIENT_CERT_DATA: optionalString,
  TEMPORAL_TLS_CLIENT_KEY_PATH: optionalString,
  /** Secret. */
  TEMPORAL_TLS_CLIENT_KEY_DATA: optionalString,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: optionalString,
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: optionalBool,
});

type Variables = z.output<typeof temporalConnectionVariables>;

/** TLS to the frontend, its PEMs checked. */
export interface TemporalTls {
  /** The CAs trusted for the server's certificate (PEM); the system's when undefined. */
  readonly serverCaCert: string | undefined;
  /** The name the server's certificate must hold, when not the address's host. */
  readonly serverName: string | undefined;
  /** The client certificate and its key (PEM), for mTLS. */
  readonly client: { readonly cert: string; readonly key: string; readonly subject: string } | undefined;
}

/** How the connection is secured; everything undefined is today's plain connection. */
export interface TemporalConnectionSecurity {
  /** From the profile; TEMPORAL_ADDRESS wins. */
  readonly profileAddress: string | undefined;
  /** From the profile; TEMPORAL_NAMESPACE wins. */
  readonly profileNamespace: string | undefined;
  /** TLS, or undefined for a plain connection. */
  readonly tls: TemporalTls | undefined;
  /** Sent as `Authorization: Bearer …`. Secret. */
  readonly apiKey: string | undefined;
  /** gRPC headers of the profile (`grpc_meta`). */
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

export const PLAIN: TemporalConnectionSecurity = { profileAddress: undefined, profileNamespace: undefined, tls: undefined, apiKey: undefined, metadata: undefined };

/** Which variable (or profile key) holds each of the three PEMs, by envconfig's field. */
const PEM_SOURCES = {
  clientCert: { variable: 'TEMPORAL_TLS_CLIENT_CERT', key: 'client_cert' },
  clientKey: { variable: 'TEMPORAL_TLS_CLIENT_KEY', key: 'client_key' },
  serverCACert: { variable: 'TEMPORAL_TLS_SERVER_CA_CERT', key: 'server_ca_cert' },
} as const;

type PemField = keyof typeof PEM_SOURCES;

/** Variables that envconfig reads besides ours: where the default profile file is. */
const LOCATION_VARIABLES = ['HOME', 'XDG_CONFIG_HOME', 'APPDATA'] as const;

/**
 * Reads the profile and variables in `env` and checks them; an Error (one
 * line) says what is wrong. Without any of these variables: {@link PLAIN}.
 */
export function temporalConnectionSecurity(env: Environment, now = new Date()): TemporalConnectionSecurity | Error {
  const parsed = temporalConnectionVariables.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return new Error(`${String(issue.path[0])} ${issue.message}`);
  }
  return readSecurity(parsed.data, env, now);
}

function readSecurity(vars: Variables, env: Environment, now: Date): TemporalConnectionSecurity | Error {
  if (vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION) {
    return new Error(
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported: the Temporal TypeScript SDK always checks the server's name; set TEMPORAL_TLS_SERVER_NAME to a name its certificate holds",
    );
  }
  const useFile = vars.TEMPORAL_CONFIG_FILE !== undefined || vars.TEMPORAL_PROFILE !== undefined;
  if (!useFile && !Object.entries(vars).some(([, value]) => value !== undefined)) return PLAIN;

  const profile = loadProfile(vars, env, useFile);
  if (profile instanceof Error) return profile;
  const where = (field: PemField, kind: 'path' | 'data') => {
    const variable = `${PEM_SOURCES[field].variable}_${kind.toUpperCase()}`;
    return vars[variable as keyof Variables] !== undefined ? variable : `${PEM_SOURCES[field].key}_${kind} of ${profileName(vars)}`;
  };

  const tlsSettings = profile.tls;
  const tlsOn = tlsSettings ? tlsSettings.disabled !== true : profile.apiKey !== undefined;
  let tls: TemporalTls | undefined;
  if (tlsOn) {
    const read = (field: PemField) => readPem(tlsSettings?.[field], (kind) => where(field, kind));
    const cert = read('clientCert');
    const key = read('clientKey');
    const ca = read('serverCACert');
    for (const text of [cert, key, ca]) if (text instanceof Error) return text;
    const client = clientPair(cert as Pem | undefined, key as Pem | undefined, now);
    if (client instanceof Error) return client;
    const serverCa = ca && certificates(ca as Pem, 'CA certificate');
    if (serverCa instanceof Error) return serverCa;
    tls = { serverCaCert: (ca as Pem | undefined)?.text, serverName: tlsSettings?.serverName, client };
  }
  return {
    profileAddress: profile.address,
    profileNamespace: profile.namespace,
    tls,
    apiKey: profile.apiKey,
    metadata: profile.grpcMeta,
  };
}

function profileName(vars: Variables): string {
  return `profile "${vars.TEMPORAL_PROFILE ?? 'default'}" in ${vars.TEMPORAL_CONFIG_FILE ?? 'temporal.toml'}`;
}

/** The profile, with the variables over it, as envconfig merges them. */
function loadProfile(vars: Variables, env: Environment, useFile: boolean): ClientConfigProfile | Error {
  if (vars.TEMPORAL_CONFIG_FILE !== undefined) {
    const missing = fileProblem(vars.TEMPORAL_CONFIG_FILE);
    if (missing) return new Error(`TEMPORAL_CONFIG_FILE names ${vars.TEMPORAL_CONFIG_FILE}, which ${missing}`);
  }
  // Only our variables, set and not empty, in envconfig's spelling of booleans.
  const overrideEnvVars: Record<string, string> = {};
  for (const [name, value] of Object.entries(vars)) {
    if (value !== undefined) overrideEnvVars[name] = typeof value === 'boolean' ? String(value) : value;
  }
  for (const name of LOCATION_VARIABLES) if (env[name]) overrideEnvVars[name] = env[name];
  try {
    return loadClientConfigProfile({ disableFile: !useFile, configFileStrict: true, overrideEnvVars });
  } catch (err) {
    return profileError(err, vars);
  }
}

/** envconfig's errors, said with the variable to change; a TOML error keeps its position only, never the file's text. */
function profileError(err: unknown, vars: Variables): Error {
  const message = err instanceof Error ? err.message : String(err);
  const file = vars.TEMPORAL_CONFIG_FILE ?? 'the default temporal.toml (~/.config/temporalio/temporal.toml)';
  if (/^Profile '.*' not found/.test(message)) return new Error(`TEMPORAL_PROFILE is "${vars.TEMPORAL_PROFILE}", which ${file} does not have`);
  const both = /^Cannot specify both (\w+)_path and \w+_data/.exec(message);
  if (both) {
    const variable = Object.values(PEM_SOURCES).find((s) => s.key === both[1])?.variable ?? both[1]!;
    return new Error(`${variable}_PATH and ${variable}_DATA (or ${both[1]}_path and ${both[1]}_data of ${profileName(vars)}) are both set: keep one`);
  }
  // smol-toml's TomlError, whose message quotes the file (where an api_key may be).
  if (err instanceof Error && err.constructor.name === 'TomlError') {
    const { line, column } = err as Error & { line?: number; column?: number };
    return new Error(`TEMPORAL_CONFIG_FILE ${file} is not valid TOML${line ? ` (line ${line}, column ${column})` : ''}`);
  }
  if (/^Validation error/.test(message)) return new Error(`TEMPORAL_CONFIG_FILE ${file}: ${message.replace(/^Validation error: /, '')}`);
  return new Error(`TEMPORAL_CONFIG_FILE ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
}

/** A file's text, or what keeps it from being read, in words that follow its name. */
function readText(path: string): { text: string } | { problem: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'does not exist' };
    if (code === 'EACCES') return { problem: 'cannot be read (permission denied)' };
    if (code === 'EISDIR') return { problem: 'is a folder, not a file' };
    return { problem: `cannot be read (${code ?? 'error'})` };
  }
}

function fileProblem(path: string): string | undefined {
  const read = readText(path);
  return 'problem' in read ? read.problem : undefined;
}

/** A PEM's text and the words that name where it came from. */
interface Pem {
  text: string;
  source: string;
}

function readPem(source: ConfigDataSource | undefined, where: (kind: 'path' | 'data') => string): Pem | Error | undefined {
  if (source === undefined) return undefined;
  if ('path' in source) {
    const name = `${where('path')} (${source.path})`;
    const read = readText(source.path);
    if ('problem' in read) return new Error(`${name} ${read.problem}`);
    return { text: read.text, source: name };
  }
  const text = typeof source.data === 'string' ? source.data : Buffer.from(source.data).toString('utf8');
  return { text, source: where('data') };
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM, each parsed; an Error names what the text holds instead. */
function certificates(pem: Pem, what: string): X509Certificate[] | Error {
  const blocks = pem.text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.text)) return new Error(`${pem.source} holds a private key, not a ${what}`);
    return new Error(`${pem.source} is not a PEM ${what} (no -----BEGIN CERTIFICATE----- block)`);
  }
  const parsed: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      parsed.push(new X509Certificate(block));
    } catch {
      return new Error(`${pem.source} has a certificate${blocks.length > 1 ? ` (the ${ordinal(i + 1)})` : ''} that cannot be parsed`);
    }
  }
  return parsed;
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}

/** OID of the extended key usage a certificate needs to authenticate a client. */
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The client certificate and key, checked: both or neither, PEM, in date, for client authentication, of one pair. */
function clientPair(cert: Pem | undefined, key: Pem | undefined, now: Date): TemporalTls['client'] | Error {
  if (!cert && !key) return undefined;
  if (cert && !key) return new Error(`${cert.source} is a client certificate without its key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) too`);
  if (key && !cert) return new Error(`${key.source} is a client key without its certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) too`);
  const chain = certificates(cert!, 'client certificate');
  if (chain instanceof Error) return chain;
  const leaf = chain[0]!;
  if (new Date(leaf.validTo) < now) return new Error(`${cert!.source} expired on ${new Date(leaf.validTo).toISOString().slice(0, 10)}`);
  if (new Date(leaf.validFrom) > now) return new Error(`${cert!.source} is not valid before ${new Date(leaf.validFrom).toISOString()}`);
  if (leaf.keyUsage !== undefined && !leaf.keyUsage.includes(CLIENT_AUTH)) {
    return new Error(`${cert!.source} is not for client authentication (its extended key usage lacks clientAuth)`);
  }
  const privateKey = parseKey(key!);
  if (privateKey instanceof Error) return privateKey;
  if (!leaf.checkPrivateKey(privateKey)) return new Error(`${cert!.source} does not match the key ${key!.source}: they are not of one pair`);
  return { cert: cert!.text, key: key!.text, subject: leaf.subject.replace(/\n/g, ', ') };
}

/** The private key, checked; its text and the parser's message never appear in the answer. */
function parseKey(key: Pem): KeyObject | Error {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key.text)) {
    return new Error(`${key.source} is encrypted with a passphrase, which the SDK cannot use: store it decrypted (openssl pkey -in key.pem -out plain-key.pem)`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.text)) {
    if (/-----BEGIN CERTIFICATE-----/.test(key.text)) return new Error(`${key.source} holds a certificate, not a private key`);
    return new Error(`${key.source} is not a PEM private key (no -----BEGIN PRIVATE KEY----- block)`);
  }
  try {
    return createPrivateKey(key.text);
  } catch {
    return new Error(`${key.source} has a private key that cannot be parsed`);
  }
}

/** Where Temporal is and how the connection is secured, as the config holds them. */
export interface TemporalEndpoint {
  readonly address: string;
  /** @default {@link PLAIN} */
  readonly security?: TemporalConnectionSecurity;
}

/**
 * The options every process connects with, for `Connection.connect`/`lazy`
 * (@temporalio/client) and `NativeConnection.connect` (@temporalio/worker)
 * alike: the address, and TLS, the API key and headers when configured.
 * Without them, `{ address }` alone, as before.
 */
export function temporalConnectionOptions({ address, security = PLAIN }: TemporalEndpoint): {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  const { tls, apiKey, metadata } = security;
  return {
    address,
    ...(tls
      ? {
          tls: {
            ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
            ...(tls.serverCaCert ? { serverRootCACertificate: Buffer.from(tls.serverCaCert) } : {}),
            ...(tls.client ? { clientCertPair: { crt: Buffer.from(tls.client.cert), key: Buffer.from(tls.client.key) } } : {}),
          },
        }
      : apiKey
        ? { tls: false }
        : {}),
    ...(apiKey ? { apiKey } : {}),
    ...(metadata ? { metadata: { ...metadata } } : {}),
  };
}

/** The host and port of `host:port` or `[v6]:port`; a bare host (or IPv6 address) is on Temporal's port, 7233. */
export function hostAndPort(address: string): { host: string; port: number } {
  const match = /^\[(.+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  return match ? { host: match[1]!, port: Number(match[2]) } : { host: address, port: 7233 };
}

/** How a connection is secured, for a log line (no secret): `plain`, `TLS`, `mTLS as CN=…`, with `, API key`. */
export function describeSecurity(security: TemporalConnectionSecurity): string {
  const { tls, apiKey } = security;
  const transport = !tls ? 'plain' : tls.client ? `mTLS as ${tls.client.subject}` : 'TLS';
  return apiKey ? `${transport}, API key` : transport;
}
