import { isIP, isIPv4 } from 'node:net';
import type ipaddr from 'ipaddr.js';
import { parseStrictIp } from './classify.ts';

/** One answer of a resolver; `family` is recomputed from the address, so a wrong one cannot mislead. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** The DNS port: answers every address a host name has, like `dns.lookup(name, { all: true })`. */
export type Resolver = (
  hostname: string,
) => Promise<readonly { readonly address: string; readonly family: number }[]>;

/** How strict `checkUrl` is; the defaults are the production settings. */
export interface SsrfPolicy {
  /** Accept plain http for every host (development only); default false. */
  readonly allowHttp?: boolean;
  /**
   * Exceptions that may be non-public: host names ('localhost', 'receiver.internal'), IPs ('127.0.0.1',
   * '::1') or CIDRs ('127.0.0.0/8'). A listed host name, or an IP literal URL host inside a listed
   * IP/CIDR, may also use http.
   */
  readonly allowList?: readonly string[];
  /** Ports a URL may name (its scheme's default port counts); default 'any'. */
  readonly allowedPorts?: readonly number[] | 'any';
  /** Default: `systemResolver` (node:dns lookup, all addresses, verbatim order). */
  readonly resolver?: Resolver;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A policy with its allow-list parsed; built per call, because allow-lists are a handful of entries. */
export interface CompiledPolicy {
  readonly allowHttp: boolean;
  readonly allowedPorts: ReadonlySet<number> | 'any';
  readonly hosts: ReadonlySet<string>;
  readonly ranges: readonly Range[];
}

/** Lower case without the root dot, the form both allow-list entries and URL hosts are compared in. */
export function normaliseHostname(hostname: string): string {
  const lower = hostname.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function invalidEntry(index: number, why: string): TypeError {
  // Names the position, not the value: policies come from configuration that may be logged elsewhere.
  return new TypeError(`SSRF policy: allowList[${index}] ${why}`);
}

function compileEntry(raw: string, index: number, hosts: Set<string>, ranges: Range[]): void {
  if (typeof raw !== 'string') throw invalidEntry(index, 'is not a string');
  const entry = raw.trim();
  const slash = entry.indexOf('/');
  if (slash !== -1) {
    const address = parseStrictIp(entry.slice(0, slash));
    const bits = entry.slice(slash + 1);
    const max = address?.kind() === 'ipv4' ? 32 : 128;
    if (address === undefined || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw invalidEntry(index, 'is not a CIDR such as 127.0.0.0/8 or fd00::/8');
    }
    ranges.push([address, Number(bits)]);
    return;
  }
  const bare = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
  const address = parseStrictIp(bare);
  if (address !== undefined) {
    ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    return;
  }
  // Parse host names the way URLs are parsed, so 'Receiver.Example.' matches https://receiver.example/.
  const parsed = URL.parse(`http://${entry}`);
  if (
    entry === '' ||
    parsed === null ||
    parsed.hostname === '' ||
    parsed.username !== '' ||
    parsed.password !== '' ||
    parsed.port !== '' ||
    parsed.pathname !== '/' ||
    parsed.search !== '' ||
    parsed.hash !== '' ||
    entry.includes('*')
  ) {
    throw invalidEntry(index, 'is not a host name, IP address or CIDR');
  }
  // "127.1" or "0x7f000001" would silently mean 127.0.0.1: make the operator write what they mean.
  if (isIPv4(parsed.hostname) || parsed.hostname.startsWith('[')) {
    throw invalidEntry(index, 'spells an IP address unusually; write it as a plain IPv4 or IPv6 address');
  }
  hosts.add(normaliseHostname(parsed.hostname));
}

/** Validates a policy and parses its allow-list; throws TypeError for configuration mistakes. */
export function compilePolicy(policy: SsrfPolicy): CompiledPolicy {
  const hosts = new Set<string>();
  const ranges: Range[] = [];
  (policy.allowList ?? []).forEach((entry, index) => {
    compileEntry(entry, index, hosts, ranges);
  });
  const ports = policy.allowedPorts ?? 'any';
  if (ports !== 'any') {
    if (!Array.isArray(ports))
      throw new TypeError("SSRF policy: allowedPorts must be 'any' or a list of ports");
    for (const port of ports) {
      if (!Number.isInteger(port) || port < 1 || port > 65_535) {
        throw new TypeError('SSRF policy: allowedPorts must hold integers from 1 to 65535');
      }
    }
  }
  return {
    allowHttp: policy.allowHttp === true,
    allowedPorts: ports === 'any' ? 'any' : new Set(ports),
    hosts,
    ranges,
  };
}

/** Whether an address falls inside an allow-listed IP or CIDR. */
export function allowListedAddress(policy: CompiledPolicy, ip: string): boolean {
  const address = parseStrictIp(ip);
  if (address === undefined) return false;
  return policy.ranges.some(([net, bits]) => net.kind() === address.kind() && address.match(net, bits));
}

/** Whether a URL host (a name, or an IP literal without brackets) is itself on the allow-list. */
export function allowListedHost(policy: CompiledPolicy, host: string): boolean {
  return isIP(host) !== 0 ? allowListedAddress(policy, host) : policy.hosts.has(normaliseHostname(host));
}

/** Checks a policy at start-up, so a typo in configuration fails the deploy instead of the first delivery. */
export function validateSsrfPolicy(policy: SsrfPolicy): void {
  compilePolicy(policy);
  if (policy.resolver !== undefined && typeof policy.resolver !== 'function') {
    throw new TypeError('SSRF policy: resolver must be a function');
  }
}
