/**
 * The `http` step: one HTTP request, its status, headers and parsed body
 * available to later steps.
 *
 * Server-side request forgery is refused by default: the address a host name
 * resolves to is checked at connect time (in the socket's own DNS lookup, so a
 * rebinding answer cannot slip between check and connect), on every redirect.
 * Private, loopback, link-local (cloud metadata) and other non-public ranges
 * are refused unless HTTP_ALLOWED_HOSTS lists the host or its network.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ApplicationFailure } from '@temporalio/common';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { Config } from '../src/config';
import { httpConnectionHeaders } from '../src/shared/http-connection';
import type { Rendered } from '../src/shared/run';
import { type ChannelSettings, retryAuthFailureOfConnection } from './connections';
import { parseInput, permanent, transient } from './failures';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

/** A form field's rendered value: templates may give any scalar, or null for no value. */
const formValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** Fields sent as `application/x-www-form-urlencoded`; a list repeats its field, null leaves it out. */
const formFields = z.record(
  z.string(),
  z.union([formValue, z.array(formValue)], { error: 'must be text, a number, true/false, null or a list of them' }),
);

/** Largest response body read. @default 1 MiB */
export const MAX_RESPONSE_BYTES = 1_048_576;

export const httpRequestInput = z.object({
  deliveryKey: z.string().min(1),
  method: z.enum(HTTP_METHODS).default('GET'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  /** Header name → name of a secret in configuration (HTTP_SECRET_<NAME>). */
  secretHeaders: z.record(z.string(), z.string()).default({}),
  /** An `http` connection whose credentials the request carries. */
  connection: z.string().min(1).optional(),
  body: z.unknown().optional(),
  /** Instead of `body`. */
  form: formFields.optional(),
  timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
  /** The largest answer read, when less than {@link MAX_RESPONSE_BYTES} (a read sent as a local activity). */
  maxBytes: z.number().int().min(1).max(MAX_RESPONSE_BYTES).optional(),
});

export type HttpRequestInput = Rendered<z.input<typeof httpRequestInput>>;

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;

const KEPT_HEADERS = ['content-type', 'content-length', 'etag', 'last-modified', 'location', 'retry-after', 'x-request-id'];

export function createHttpActivities(config: Config, settings: Pick<ChannelSettings, 'http'>) {
  const guard = createAddressGuard(config.outbound.allowedHosts);

  return {
    async httpRequest(raw: HttpRequestInput): Promise<HttpResult> {
      const input = parseInput(httpRequestInput, raw, 'http', 'ProviderRejected');
      // The definition schema refuses both at save time; a step rendered elsewhere still gets a clear answer.
      if (input.body !== undefined && input.form !== undefined) throw permanent('ProviderRejected', 'http step input is invalid: takes body or form, not both');
      const headers: Record<string, string> = { 'user-agent': 'workflow-automation', ...lowerKeys(input.headers) };
      for (const [header, secretName] of Object.entries(input.secretHeaders)) {
        const value = config.outbound.secrets[secretName];
        if (value === undefined) {
          throw permanent('ChannelNotConfigured', `http step names secret "${secretName}", which is not configured (HTTP_SECRET_${secretName})`);
        }
        headers[header.toLowerCase()] = value;
      }
      const connection = input.connection === undefined ? undefined : await settings.http(input.connection);
      if (connection?.baseUrl !== undefined && !isUnder(input.url, connection.baseUrl)) {
        throw permanent('ProviderRejected', `http step: ${new URL(input.url).origin} is not under the base URL of connection "${input.connection}"; its credentials go only there`);
      }
      const connectionHeaders = connection ? lowerKeys(httpConnectionHeaders(connection)) : {};
      Object.assign(headers, connectionHeaders);
      let payload: string | undefined;
      if (input.method !== 'GET' && input.method !== 'HEAD') {
        if (input.form !== undefined) {
          payload = formEncode(input.form);
          headers['content-type'] ??= 'application/x-www-form-urlencoded';
        } else if (input.body !== undefined) {
          payload = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
          headers['content-type'] ??= typeof input.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
        }
      }

      const res = await fetchGuarded(new URL(input.url), {
        method: input.method,
        headers,
        payload,
        credentialHeaders: [...Object.keys(input.secretHeaders).map((h) => h.toLowerCase()), ...Object.keys(connectionHeaders)],
        timeoutMs: input.timeoutMs,
        maxBytes: input.maxBytes ?? MAX_RESPONSE_BYTES,
        tooLarge: (url) => permanent('ProviderRejected', `the response from ${url.host} is larger than ${input.maxBytes ?? MAX_RESPONSE_BYTES} bytes`),
        guard,
      });
      const failure = statusFailure(res);
      if (failure) throw retryAuthFailureOfConnection(failure, input.connection);
      const text = res.body.toString('utf8');
      const type = String(res.headers['content-type'] ?? '');
      let body: unknown = text;
      if (/\bjson\b/.test(type) && text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const kept: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = res.headers[name];
        if (value !== undefined) kept[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { status: res.status, headers: kept, body };
    },
  };
}

/** Whether `url` lies under `base`: the same origin, and a path that starts with the base's. */
function isUnder(url: string, base: string): boolean {
  const target = new URL(url);
  const root = new URL(base);
  const path = root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`;
  return target.origin === root.origin && (target.pathname === root.pathname || target.pathname.startsWith(path));
}

/** One outbound request through the address guard. */
export interface GuardedRequest {
  method: string;
  headers: Record<string, string>;
  payload?: string | undefined;
  /** Headers holding credentials for the first address: left off when a redirect leads to another origin. */
  credentialHeaders?: readonly string[] | undefined;
  timeoutMs: number;
  /** Largest body read; a longer one fails with {@link tooLarge}. */
  maxBytes: number;
  tooLarge: (url: URL) => ApplicationFailure;
  guard: AddressGuard;
}

/** An answer read whole, and the address that gave it (after redirects). */
export interface GuardedResponse {
  url: URL;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends a request whose every connection, redirects included, goes through
 * the address guard, and reads the answer within `maxBytes`. Network errors
 * are transient; a refused address, too many redirects or a redirect to
 * another protocol are permanent. Error answers are returned as they are:
 * see {@link statusFailure}.
 */
export async function fetchGuarded(start: URL, request: GuardedRequest): Promise<GuardedResponse> {
  let url = start;
  let method = request.method;
  let payload = request.payload;
  let headers = request.headers;
  for (let hop = 0; ; hop += 1) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw permanent('ProviderRejected', `refused to follow a redirect to a ${url.protocol} address`);
    }
    const res = await send(url, method, payload, headers, request);
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location) {
      if (hop >= MAX_REDIRECTS) throw permanent('ProviderRejected', `more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      // Credentials meant for one origin do not follow a redirect to another, as browsers drop Authorization.
      if (next.origin !== url.origin && request.credentialHeaders?.length) {
        const dropped = new Set(request.credentialHeaders.map((h) => h.toLowerCase()));
        headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped.has(name.toLowerCase())));
      }
      url = next;
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        payload = undefined;
      }
      continue;
    }
    return { url, ...res };
  }
}

/**
 * The failure an answer means, or undefined for a success: 408, 429 and 5xx
 * are retried (honouring Retry-After), 401 and 403 are refused credentials,
 * other 4xx fail for good. `what` prefixes the message.
 */
export function statusFailure(res: Pick<GuardedResponse, 'url' | 'status' | 'headers'>, what = ''): ApplicationFailure | undefined {
  const { url, status } = res;
  if (status === 429) {
    const retryAfter = Number(res.headers['retry-after']);
    return transient('ProviderRateLimited', `${what}${url.host} answered 429`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
  }
  if (status >= 500 || status === 408) return transient('ProviderUnavailable', `${what}${url.host} answered HTTP ${status}`);
  if (status >= 400) {
    return permanent(status === 401 || status === 403 ? 'ProviderAuthFailed' : 'ProviderRejected', `${what}${url.host} answered HTTP ${status}`);
  }
  return undefined;
}

function send(
  url: URL,
  method: string,
  payload: string | undefined,
  headers: Record<string, string>,
  request: GuardedRequest,
): Promise<Omit<GuardedResponse, 'url'>> {
  const { timeoutMs, maxBytes, guard } = request;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolvePromise, reject) => {
    try {
      guard.checkLiteral(url.hostname);
    } catch (err) {
      reject(permanent('ProviderRejected', (err as Error).message));
      return;
    }
    const req = client.request(url, { method, headers, lookup: guard, timeout: timeoutMs }, (res) => {
      // A HEAD answer declares the length of a body it does not send.
      const declared = method === 'HEAD' ? 0 : Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        req.destroy();
        reject(request.tooLarge(url));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.destroy();
          reject(request.tooLarge(url));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(transient('ProviderUnavailable', `${url.host} broke off the answer: ${err.message}`)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRNOTALLOWED') return reject(permanent('ProviderRejected', err.message));
      reject(transient('ProviderUnavailable', `${url.host} could not be reached: ${err.code ?? err.message}`));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Decides whether an address may be reached: public unicast, or allowed by name or network. */
export function createAddressPolicy(allowedHosts: readonly string[]) {
  const names = new Set(allowedHosts.filter((h) => !h.includes('/') && !ipaddr.isValid(h)).map((h) => h.toLowerCase()));
  const networks = allowedHosts
    .map((h) => (h.includes('/') ? h : ipaddr.isValid(h) ? `${h}/${ipaddr.parse(h).kind() === 'ipv4' ? 32 : 128}` : undefined))
    .filter((h): h is string => h !== undefined)
    .map((cidr) => ipaddr.parseCIDR(cidr));

  return (hostname: string, address: string): boolean => {
    if (names.has(hostname.toLowerCase())) return true;
    let ip = ipaddr.parse(address);
    if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) ip = ip.toIPv4Address();
    if (networks.some(([net, bits]) => net.kind() === ip.kind() && ip.match([net, bits]))) return true;
    return ip.range() === 'unicast';
  };
}

function refusal(hostname: string, address: string) {
  return Object.assign(
    new Error(`refused to connect to ${hostname} (${address}): not a public address; allow it with HTTP_ALLOWED_HOSTS`),
    { code: 'EADDRNOTALLOWED' },
  );
}

/** A socket lookup that refuses non-public addresses, and a check for IP literals, which skip the lookup. */
export type AddressGuard = LookupFunction & { checkLiteral(hostname: string): void };

/**
 * A DNS lookup that fails for addresses outside the public internet, unless
 * allowed. Node skips the lookup for IP literals, so {@link checkLiteral}
 * covers those before a request is made.
 */
export function createAddressGuard(allowedHosts: readonly string[]): AddressGuard {
  const allowed = createAddressPolicy(allowedHosts);
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const refused = addresses.find((a) => !allowed(hostname, a.address));
      if (refused) return callback(refusal(hostname, refused.address), '', 4);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      callback(null, first?.address ?? '', first?.family ?? 4);
    });
  };
  return Object.assign(lookup, {
    checkLiteral(hostname: string) {
      const bare = hostname.replace(/^\[|\]$/g, '');
      if (ipaddr.isValid(bare) && !allowed(bare, bare)) throw refusal(hostname, bare);
    },
  });
}

/** `a=1&b=x+y`, a list as its field repeated, null fields left out. */
export function formEncode(fields: z.output<typeof formFields>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of [value].flat()) if (item !== null) params.append(name, String(item));
  }
  return params.toString();
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
