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
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { Config } from '../src/config';
import type { Rendered } from '../src/shared/run';
import { parseInput, permanent, transient } from './failures';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

export const httpRequestInput = z.object({
  deliveryKey: z.string().min(1),
  method: z.enum(HTTP_METHODS).default('GET'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  /** Header name → name of a secret in configuration (HTTP_SECRET_<NAME>). */
  secretHeaders: z.record(z.string(), z.string()).default({}),
  body: z.unknown().optional(),
  timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
});

export type HttpRequestInput = Rendered<z.input<typeof httpRequestInput>>;

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;
/** Largest response body read. @default 1 MiB */
export const MAX_RESPONSE_BYTES = 1_048_576;

const KEPT_HEADERS = ['content-type', 'content-length', 'etag', 'last-modified', 'location', 'retry-after', 'x-request-id'];

export function createHttpActivities(config: Config) {
  const guard = createAddressGuard(config.outbound.allowedHosts);

  return {
    async httpRequest(raw: HttpRequestInput): Promise<HttpResult> {
      const input = parseInput(httpRequestInput, raw, 'http', 'ProviderRejected');
      const headers: Record<string, string> = { 'user-agent': 'workflow-automation', ...lowerKeys(input.headers) };
      for (const [header, secretName] of Object.entries(input.secretHeaders)) {
        const value = config.outbound.secrets[secretName];
        if (value === undefined) {
          throw permanent('ChannelNotConfigured', `http step names secret "${secretName}", which is not configured (HTTP_SECRET_${secretName})`);
        }
        headers[header.toLowerCase()] = value;
      }
      let payload: string | undefined;
      if (input.body !== undefined && input.method !== 'GET' && input.method !== 'HEAD') {
        payload = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
        headers['content-type'] ??= typeof input.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
      }

      let url = new URL(input.url);
      let method: string = input.method;
      for (let hop = 0; ; hop += 1) {
        const res = await send(url, method, headers, payload, input.timeoutMs, guard);
        if (res.status >= 300 && res.status < 400 && res.headers.location) {
          if (hop >= MAX_REDIRECTS) throw permanent('ProviderRejected', `more than ${MAX_REDIRECTS} redirects`);
          url = new URL(res.headers.location, url);
          if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
            method = 'GET';
            payload = undefined;
          }
          continue;
        }
        if (res.status === 429) {
          const retryAfter = Number(res.headers['retry-after']);
          throw transient('ProviderRateLimited', `${url.host} answered 429`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
        }
        if (res.status >= 500 || res.status === 408) throw transient('ProviderUnavailable', `${url.host} answered HTTP ${res.status}`);
        if (res.status >= 400) {
          throw permanent(res.status === 401 || res.status === 403 ? 'ProviderAuthFailed' : 'ProviderRejected', `${url.host} answered HTTP ${res.status}`);
        }
        return res;
      }
    },
  };
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  payload: string | undefined,
  timeoutMs: number,
  lookup: ReturnType<typeof createAddressGuard>,
): Promise<HttpResult> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolvePromise, reject) => {
    try {
      lookup.checkLiteral(url.hostname);
    } catch (err) {
      reject(permanent('ProviderRejected', (err as Error).message));
      return;
    }
    const req = client.request(url, { method, headers, lookup, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy();
          reject(permanent('ProviderRejected', `the response from ${url.host} is larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
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
        resolvePromise({ status: res.statusCode ?? 0, headers: kept, body });
      });
      res.on('error', reject);
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

/**
 * A DNS lookup that fails for addresses outside the public internet, unless
 * allowed. Node skips the lookup for IP literals, so {@link checkLiteral}
 * covers those before a request is made.
 */
export function createAddressGuard(allowedHosts: readonly string[]): LookupFunction & { checkLiteral(hostname: string): void } {
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

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
