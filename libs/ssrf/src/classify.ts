import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/**
 * Where an address points. Only `public` may be contacted without an allow-list entry; the other names
 * follow ipaddr.js's range names where one exists, so logs and errors read the same as the library.
 */
export type AddressCategory =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'linkLocal'
  | 'carrierGradeNat'
  | 'uniqueLocal'
  | 'metadata'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'nat64'
  | '6to4'
  | 'teredo';

/** IPv6 forms whose last 32 bits are an IPv4 address that the packet really goes to (or may go to). */
export type EmbeddingForm = 'ipv4Mapped' | 'ipv4Compatible' | 'ipv4Translated' | 'nat64';

/** The verdict on one address; for an embedding IPv6 form the category is the embedded IPv4's. */
export interface AddressClassification {
  readonly public: boolean;
  readonly category: AddressCategory;
  /** Set when an IPv6 address was judged by the IPv4 address inside it. */
  readonly embeddedIn?: EmbeddingForm;
  /** The embedded IPv4 address, dotted decimal, when `embeddedIn` is set. */
  readonly embeddedIpv4?: string;
}

interface Rule<T, O> {
  readonly range: [T, number];
  readonly outcome: O;
}

const v4 = (cidr: string, outcome: AddressCategory): Rule<IPv4, AddressCategory> => ({
  range: ipaddr.IPv4.parseCIDR(cidr),
  outcome,
});

// Our own table comes first so the verdict does not depend on how a given ipaddr.js version names or
// orders its ranges (it files documentation and benchmarking nets under `reserved`, for instance).
// First match wins, so the metadata hosts sit before the link-local and CGNAT nets that contain them.
const IPV4_RULES: readonly Rule<IPv4, AddressCategory>[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OCI, DigitalOcean instance metadata
  v4('169.254.170.2/32', 'metadata'), // AWS ECS task credentials
  v4('169.254.170.23/32', 'metadata'), // AWS EKS Pod Identity credentials
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud metadata
  v4('0.0.0.0/8', 'unspecified'), // "this network"; 0.0.0.0 reaches the local host on Linux
  v4('10.0.0.0/8', 'private'),
  v4('172.16.0.0/12', 'private'),
  v4('192.168.0.0/16', 'private'),
  v4('100.64.0.0/10', 'carrierGradeNat'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'linkLocal'),
  v4('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  v4('192.0.2.0/24', 'documentation'),
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('198.18.0.0/15', 'benchmarking'),
  v4('192.88.99.0/24', 'reserved'), // deprecated 6to4 relay anycast
  v4('224.0.0.0/4', 'multicast'),
  v4('255.255.255.255/32', 'broadcast'),
  v4('240.0.0.0/4', 'reserved'),
];

type V6Outcome = AddressCategory | { readonly embedded: EmbeddingForm };

const v6 = (cidr: string, outcome: V6Outcome): Rule<IPv6, V6Outcome> => ({
  range: ipaddr.IPv6.parseCIDR(cidr),
  outcome,
});

const IPV6_RULES: readonly Rule<IPv6, V6Outcome>[] = [
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('::ffff:0:0/96', { embedded: 'ipv4Mapped' }), // a dual-stack socket sends these over IPv4
  v6('::ffff:0:0:0/96', { embedded: 'ipv4Translated' }), // RFC 6145 SIIT
  v6('::/96', { embedded: 'ipv4Compatible' }), // deprecated, still judged by the IPv4 inside
  v6('64:ff9b::/96', { embedded: 'nat64' }), // well-known NAT64 prefix: the gateway dials the IPv4
  // Local-use NAT64 (RFC 8215): the operator picks the prefix length, so the IPv4 inside cannot be found.
  v6('64:ff9b:1::/48', 'nat64'),
  v6('2001::/32', 'teredo'), // tunnels to an IPv4 host we cannot vet
  v6('2001:2::/48', 'benchmarking'),
  v6('2001:db8::/32', 'documentation'),
  v6('3fff::/20', 'documentation'),
  v6('2001::/23', 'reserved'), // IETF protocol assignments (ORCHID, AMT, AS112 …)
  v6('2002::/16', '6to4'), // tunnels to an IPv4 host we cannot vet
  v6('fd00:ec2::254/128', 'metadata'), // AWS instance metadata over IPv6
  v6('fd00:ec2::23/128', 'metadata'), // AWS EKS Pod Identity over IPv6
  v6('fc00::/7', 'uniqueLocal'),
  v6('fe80::/10', 'linkLocal'),
  v6('fec0::/10', 'reserved'), // deprecated site-local (RFC 3879), still routed inside some networks
  v6('ff00::/8', 'multicast'),
];

/** Only 2000::/3 is allocated as global unicast; everything else left over is reserved. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

// Fallback for addresses our tables do not name: ipaddr.js's names map onto ours, and any name we do not
// know (as112, amt, orchid2, a range added in a later version …) is treated as reserved, failing closed.
const IPADDR_NAMES: Readonly<Record<string, AddressCategory>> = {
  unicast: 'public',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'linkLocal',
  loopback: 'loopback',
  carrierGradeNat: 'carrierGradeNat',
  private: 'private',
  uniqueLocal: 'uniqueLocal',
  benchmarking: 'benchmarking',
  '6to4': '6to4',
  teredo: 'teredo',
  rfc6052: 'nat64',
};

function fromIpaddrName(name: string): AddressCategory {
  return Object.hasOwn(IPADDR_NAMES, name) ? (IPADDR_NAMES[name] ?? 'reserved') : 'reserved';
}

function verdict(category: AddressCategory): AddressClassification {
  return { public: category === 'public', category };
}

function classifyV4(address: IPv4): AddressClassification {
  for (const rule of IPV4_RULES) {
    if (address.match(rule.range)) return verdict(rule.outcome);
  }
  return verdict(fromIpaddrName(address.range()));
}

function classifyV6(address: IPv6): AddressClassification {
  for (const rule of IPV6_RULES) {
    if (!address.match(rule.range)) continue;
    const outcome = rule.outcome;
    if (typeof outcome === 'string') return verdict(outcome);
    const embedded = embeddedIpv4(address);
    return { ...classifyV4(embedded), embeddedIn: outcome.embedded, embeddedIpv4: embedded.toString() };
  }
  if (!address.match(GLOBAL_UNICAST_V6)) return verdict('reserved');
  return verdict(fromIpaddrName(address.range()));
}

/** The last 32 bits, which is where every /96 embedding form keeps its IPv4 address. */
function embeddedIpv4(address: IPv6): IPv4 {
  const high = address.parts[6] ?? 0;
  const low = address.parts[7] ?? 0;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** Parses an IP address in the strict spelling Node's `net.isIP` accepts (what resolvers and WHATWG URL produce). */
export function parseStrictIp(ip: string): IPv4 | IPv6 | undefined {
  // ipaddr.js alone would also take inet_aton spellings such as "127.1" or "0x7f.1"; refusing them here
  // keeps this module's idea of "an IP address" the same as the socket layer's.
  if (typeof ip !== 'string') return undefined;
  const family = isIP(ip);
  if (family === 0) return undefined;
  try {
    if (family === 4) return ipaddr.IPv4.parse(ip);
    // ipaddr.js 2.x reads "::a.b.c.d" (IPv4-compatible) as "::ffff:a.b.c.d", and its zone syntax is
    // narrower than Node's. The WHATWG host parser gives the canonical all-hex form, which ipaddr.js
    // reads exactly; a zone is dropped because it scopes an address without changing what it is.
    const zone = ip.indexOf('%');
    const canonical = URL.parse(`http://[${zone === -1 ? ip : ip.slice(0, zone)}]/`)?.hostname;
    return canonical === undefined ? undefined : ipaddr.IPv6.parse(canonical.slice(1, -1));
  } catch {
    return undefined;
  }
}

/** Says whether an IPv4 or IPv6 address is public and, if not, what kind of non-public range it is in. */
export function classifyAddress(ip: string): AddressClassification {
  const address = parseStrictIp(ip);
  // The value is left out of the message: it may come from untrusted input.
  if (address === undefined) throw new TypeError('classifyAddress: not an IPv4 or IPv6 address');
  return address.kind() === 'ipv4' ? classifyV4(address as IPv4) : classifyV6(address as IPv6);
}
