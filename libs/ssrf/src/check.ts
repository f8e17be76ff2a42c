import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddressClassification, classifyAddress, parseStrictIp } from './classify.ts';
import { SsrfRefusedError } from './errors.ts';
import {
  allowListedAddress,
  allowListedHost,
  type CompiledPolicy,
  compilePolicy,
  normaliseHostname,
  type ResolvedAddress,
  type Resolver,
  type SsrfPolicy,
} from './policy.ts';

/** Longer URLs are refused: nobody needs more for a webhook, and stored URLs end up in logs and UIs. */
export const MAX_URL_LENGTH = 2048;

/** A URL that passed, with the only addresses the caller may connect to for it. */
export interface CheckedUrl {
  readonly url: URL;
  /** Every address the host had when it was checked, all public or allow-listed; connect to these only. */
  readonly addresses: readonly ResolvedAddress[];
}

/** The default resolver: the system's getaddrinfo (so /etc/hosts counts), every address, in its order. */
export async function systemResolver(hostname: string): Promise<ResolvedAddress[]> {
  const answers = await lookup(hostname, { all: true, order: 'verbatim' });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

function defaultPort(protocol: string): number {
  return protocol === 'http:' ? 80 : 443;
}

/** The host as a socket sees it: IPv6 literals lose their brackets. */
function bareHost(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

async function resolve(host: string, resolver: Resolver): Promise<ResolvedAddress[]> {
  const literal = isIP(host);
  // An IP literal is already the answer; asking DNS about it could only add a way to be wrong.
  if (literal !== 0) return [{ address: host, family: literal === 6 ? 6 : 4 }];
  let answers: unknown;
  try {
    answers = await resolver(host);
  } catch (error) {
    throw new SsrfRefusedError('unresolvable', {}, { cause: error });
  }
  if (!Array.isArray(answers) || answers.length === 0) throw new SsrfRefusedError('unresolvable');
  const seen = new Map<string, ResolvedAddress>();
  for (const answer of answers as unknown[]) {
    const address = (answer as { address?: unknown } | null)?.address;
    const family = typeof address === 'string' && parseStrictIp(address) !== undefined ? isIP(address) : 0;
    // A malformed answer is not something we can vet, so it fails the whole host rather than being skipped.
    if (typeof address !== 'string' || family === 0) throw new SsrfRefusedError('unresolvable');
    if (!seen.has(address)) seen.set(address, { address, family: family === 6 ? 6 : 4 });
  }
  return [...seen.values()];
}

function parse(input: string): URL {
  if (typeof input !== 'string') throw new SsrfRefusedError('invalid_url');
  if (input.length > MAX_URL_LENGTH)
    throw new SsrfRefusedError('url_too_long', { maxLength: MAX_URL_LENGTH });
  const url = URL.parse(input);
  if (url === null) throw new SsrfRefusedError('invalid_url');
  return url;
}

function checkShape(url: URL, policy: CompiledPolicy, hostListed: boolean): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SsrfRefusedError('scheme_not_https', { httpAllowed: policy.allowHttp });
  }
  if (url.protocol === 'http:' && !policy.allowHttp && !hostListed) {
    throw new SsrfRefusedError('scheme_not_https', { httpAllowed: false });
  }
  // Userinfo would be sent as Basic auth to whoever answers, and it hides the real host from a reader
  // ("https://bank.example@evil.example/").
  if (url.username !== '' || url.password !== '') throw new SsrfRefusedError('credentials_in_url');
  // Normalisation (percent-encoding, punycode) can lengthen a URL that passed the first length check.
  if (url.href.length > MAX_URL_LENGTH) {
    throw new SsrfRefusedError('url_too_long', { maxLength: MAX_URL_LENGTH });
  }
  const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
  if (port === 0 || (policy.allowedPorts !== 'any' && !policy.allowedPorts.has(port))) {
    throw new SsrfRefusedError('port_not_allowed', { port });
  }
}

/**
 * Vets a webhook URL against SSRF: shape, scheme, port, then every address its host resolves to, and
 * returns those addresses so the caller connects to exactly them (a later DNS answer cannot redirect it).
 */
export async function checkUrl(input: string, policy: SsrfPolicy = {}): Promise<CheckedUrl> {
  const compiled = compilePolicy(policy);
  const url = parse(input);
  const host = bareHost(url);
  const hostListed = allowListedHost(compiled, host);
  checkShape(url, compiled, hostListed);

  const addresses = await resolve(host, policy.resolver ?? systemResolver);
  // DNS rebinding and split answers: one bad address is enough to refuse, because the client may pick it.
  const nameListed = isIP(host) === 0 && compiled.hosts.has(normaliseHostname(host));
  for (const { address } of addresses) {
    const verdict: AddressClassification = classifyAddress(address);
    if (verdict.public || nameListed || allowListedAddress(compiled, address)) continue;
    throw new SsrfRefusedError('non_public_address', {
      category: verdict.category,
      ...(verdict.embeddedIn === undefined ? {} : { embeddedIn: verdict.embeddedIn }),
    });
  }
  return { url, addresses };
}
