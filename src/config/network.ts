/**
 * Network settings' text: which proxies the gateway believes (TRUST_PROXY)
 * and a `host:port` to listen on.
 */
import ipaddr from 'ipaddr.js';
import { list } from './variables';

/**
 * What Express's `trust proxy` accepts, as `TRUST_PROXY` spells it: `false`
 * (the default: the peer is the client), `true` (the left-most
 * `X-Forwarded-For` address, which anyone can forge), a number of proxy hops,
 * or addresses, CIDR networks and Express's names `loopback`, `linklocal`,
 * `uniquelocal` of the proxies to trust.
 */
export type TrustProxy = boolean | number | readonly string[];

const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** Parses `TRUST_PROXY`; an Error says what is wrong with it. */
export function parseTrustProxy(value: string | undefined): TrustProxy | Error {
  const text = value?.trim().toLowerCase();
  if (text === undefined || text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops <= 100 ? hops : new Error('must be at most 100 proxy hops');
  }
  const entries = list(text);
  const bad = entries.filter((entry) => !TRUST_PROXY_NAMES.includes(entry) && !isAddressOrNetwork(entry));
  if (bad.length > 0) {
    return new Error(
      `has ${bad.map((b) => JSON.stringify(b)).join(', ')}, which is not an IP address, a CIDR network or one of ${TRUST_PROXY_NAMES.join(', ')}: ` +
        'use true, false, a number of proxy hops, or a comma-separated list of those',
    );
  }
  return entries;
}

function isAddressOrNetwork(entry: string): boolean {
  return ipaddr.isValid(entry) || ipaddr.isValidCIDR(entry);
}

/** `host:port` or `[v6 address]:port`, with a port from 1 to 65535. */
export function isBindAddress(value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match) return false;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535;
}
