import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { normaliseHostname, type ResolvedAddress } from './policy.ts';

/** Optional guard for `vettedLookup`. */
export interface VettedLookupOptions {
  /**
   * The host name the addresses were vetted for; a lookup of any other name then fails instead of being
   * answered with these addresses (catches a lookup shared across endpoints by mistake).
   */
  readonly hostname?: string;
}

function notFound(hostname: string, why: string): NodeJS.ErrnoException {
  // ENOTFOUND is what HTTP clients already treat as "cannot reach this host", so retries behave as usual.
  const error: NodeJS.ErrnoException = new Error(`vetted lookup: ${why}`);
  error.code = 'ENOTFOUND';
  error.syscall = 'getaddrinfo';
  (error as NodeJS.ErrnoException & { hostname: string }).hostname = hostname;
  return error;
}

function wantedFamily(options: LookupOptions | number | undefined): 0 | 4 | 6 {
  const family = typeof options === 'number' ? options : options?.family;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/**
 * A `lookup` for `net.connect`, `http.request` or undici's `connect` that answers only with the vetted
 * addresses, so the socket goes where `checkUrl` looked while TLS still uses the host name for SNI and
 * the certificate check.
 */
export function vettedLookup(
  addresses: readonly ResolvedAddress[],
  options: VettedLookupOptions = {},
): LookupFunction {
  const pinned: LookupAddress[] = addresses.map(({ address }) => {
    const family = isIP(address);
    if (family === 0) throw new TypeError('vettedLookup: every vetted address must be an IP address');
    return { address, family };
  });
  if (pinned.length === 0) throw new TypeError('vettedLookup: needs at least one vetted address');
  const expected = options.hostname === undefined ? undefined : bare(normaliseHostname(options.hostname));

  return (hostname, lookupOptions, callback) => {
    const family = wantedFamily(lookupOptions as LookupOptions | number | undefined);
    const all = typeof lookupOptions === 'object' && lookupOptions !== null && lookupOptions.all === true;
    // dns.lookup never calls back synchronously; callers (net's happy eyeballs among them) may rely on it.
    process.nextTick(() => {
      if (expected !== undefined && bare(normaliseHostname(hostname)) !== expected) {
        callback(notFound(hostname, 'this host name was not vetted'), all ? [] : '', undefined);
        return;
      }
      const matching = family === 0 ? pinned : pinned.filter((entry) => entry.family === family);
      const first = matching[0];
      if (first === undefined) {
        callback(notFound(hostname, `no vetted IPv${family} address`), all ? [] : '', undefined);
        return;
      }
      if (all) {
        callback(
          null,
          matching.map((entry) => ({ ...entry })),
        );
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
