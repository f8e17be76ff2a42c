import { describe, expect, it } from 'vitest';
import {
  checkUrl,
  MAX_URL_LENGTH,
  type Resolver,
  type SsrfPolicy,
  SsrfRefusedError,
  validateSsrfPolicy,
} from '../src/index.ts';

/** A DNS port answering from a table; names not in it fail the way getaddrinfo does. */
function fakeResolver(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (answers === undefined) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    }
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolver, { calls });
}

/** A resolver that fails the test if asked: IP literals must never reach DNS. */
const noDns: Resolver = async (hostname) => {
  throw new Error(`resolver must not be called (asked for ${hostname})`);
};

const DNS = fakeResolver({
  'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'],
  'v6only.example.com': ['2606:2800:220:1::1'],
  'mixed.example.com': ['93.184.216.34', '10.0.0.5'],
  'mixed6.example.com': ['2606:2800:220:1::1', 'fd00::5'],
  'metadata.example.com': ['169.254.169.254'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'nat64.example.com': ['64:ff9b::a00:1'],
  'internal.example.com': ['10.1.2.3'],
  'receiver.test': ['127.0.0.1', '::1'],
  'dup.example.com': ['93.184.216.34', '93.184.216.34'],
});

/** Runs checkUrl and returns the refusal, failing the test if there was none. */
async function refusal(url: string, policy: SsrfPolicy = {}): Promise<SsrfRefusedError> {
  const outcome = await checkUrl(url, { resolver: DNS, ...policy }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SsrfRefusedError);
  const error = outcome as SsrfRefusedError;
  expect(error.code).toBe('WEBHOOK_URL_REFUSED');
  expect(error.name).toBe('SsrfRefusedError');
  return error;
}

describe('checkUrl: passes public destinations', () => {
  it('returns every resolved address of a public host, for the caller to pin', async () => {
    const checked = await checkUrl('https://hooks.example.com/sms?x=1', { resolver: DNS });
    expect(checked.url.href).toBe('https://hooks.example.com/sms?x=1');
    expect(checked.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('passes public IPv4 and IPv6 literals without asking DNS', async () => {
    expect((await checkUrl('https://93.184.216.34/hook', { resolver: noDns })).addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
    ]);
    expect((await checkUrl('https://[2606:2800:220:1::1]:8443/', { resolver: noDns })).addresses).toEqual([
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('passes an IPv4-mapped literal of a public address and a NAT64 answer for one', async () => {
    expect((await checkUrl('https://[::ffff:8.8.8.8]/', { resolver: noDns })).addresses).toEqual([
      { address: '::ffff:808:808', family: 6 },
    ]);
    const resolver = fakeResolver({ 'dns64.example.com': ['64:ff9b::5db8:d822'] });
    expect((await checkUrl('https://dns64.example.com/', { resolver })).addresses).toEqual([
      { address: '64:ff9b::5db8:d822', family: 6 },
    ]);
  });

  it('removes duplicate answers', async () => {
    expect((await checkUrl('https://dup.example.com/', { resolver: DNS })).addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
    ]);
  });

  it('asks the resolver for the punycode host name', async () => {
    const resolver = fakeResolver({ 'xn--bcher-kva.example': ['93.184.216.34'] });
    await checkUrl('https://bücher.example/', { resolver });
    expect(resolver.calls).toEqual(['xn--bcher-kva.example']);
  });
});

describe('checkUrl: refuses non-public destinations', () => {
  it.each([
    ['https://127.0.0.1/', 'loopback', undefined],
    ['https://10.0.0.1/', 'private', undefined],
    ['https://172.20.1.1/', 'private', undefined],
    ['https://192.168.0.10/', 'private', undefined],
    ['https://169.254.169.254/latest/meta-data/', 'metadata', undefined],
    ['https://100.100.100.200/', 'metadata', undefined],
    ['https://169.254.10.10/', 'linkLocal', undefined],
    ['https://100.64.1.1/', 'carrierGradeNat', undefined],
    ['https://0.0.0.0/', 'unspecified', undefined],
    ['https://255.255.255.255/', 'broadcast', undefined],
    ['https://239.1.1.1/', 'multicast', undefined],
    ['https://198.18.0.1/', 'benchmarking', undefined],
    ['https://192.0.2.1/', 'documentation', undefined],
    ['https://[::1]/', 'loopback', undefined],
    ['https://[::]/', 'unspecified', undefined],
    ['https://[fe80::1]/', 'linkLocal', undefined],
    ['https://[fd00::1]/', 'uniqueLocal', undefined],
    ['https://[fd00:ec2::254]/', 'metadata', undefined],
    ['https://[ff02::1]/', 'multicast', undefined],
    ['https://[2002:a00:1::]/', '6to4', undefined],
    ['https://[2001::1]/', 'teredo', undefined],
    ['https://[64:ff9b:1::1]/', 'nat64', undefined],
    ['https://[::ffff:169.254.169.254]/', 'metadata', 'ipv4Mapped'],
    ['https://[::ffff:127.0.0.1]/', 'loopback', 'ipv4Mapped'],
    ['https://[0:0:0:0:0:ffff:7f00:1]/', 'loopback', 'ipv4Mapped'],
    ['https://[::127.0.0.1]/', 'loopback', 'ipv4Compatible'],
    ['https://[64:ff9b::a00:1]/', 'private', 'nat64'],
    ['https://[64:ff9b::169.254.169.254]/', 'metadata', 'nat64'],
  ])('refuses %s as %s', async (url, category, embeddedIn) => {
    const error = await refusal(url, { resolver: noDns });
    expect(error.reason).toBe('non_public_address');
    expect(error.category).toBe(category);
    expect(error.embeddedIn).toBe(embeddedIn);
    expect(error.message).toContain(`(${category}`);
  });

  // WHATWG URL turns inet_aton spellings into dotted decimal before we look at the host.
  it.each([
    'http://2130706433/',
    'http://0x7f.1/',
    'http://127.1/',
    'http://0177.0.0.1/',
    'http://0x7f000001/',
    'http://017700000001/',
    'http://127.0.0.1./',
    'http://%31%32%37.0.0.1/',
    'http://127.0.1/',
  ])('normalises the odd IPv4 spelling %s to loopback and refuses it', async (url) => {
    const error = await refusal(url, { allowHttp: true, resolver: noDns });
    expect(error.reason).toBe('non_public_address');
    expect(error.category).toBe('loopback');
  });

  it('normalises 0xa9.0xfe.0xa9.0xfe to the metadata address', async () => {
    const error = await refusal('https://0xa9.0xfe.0xa9.0xfe/', { resolver: noDns });
    expect(error.category).toBe('metadata');
  });

  it('refuses host names resolving to private, metadata, mapped and NAT64 addresses', async () => {
    expect((await refusal('https://internal.example.com/')).category).toBe('private');
    expect((await refusal('https://metadata.example.com/')).category).toBe('metadata');
    const mapped = await refusal('https://mapped.example.com/');
    expect([mapped.category, mapped.embeddedIn]).toEqual(['loopback', 'ipv4Mapped']);
    const nat64 = await refusal('https://nat64.example.com/');
    expect([nat64.category, nat64.embeddedIn]).toEqual(['private', 'nat64']);
  });

  it('refuses a host whose answers mix public and private addresses (DNS rebinding)', async () => {
    const v4 = await refusal('https://mixed.example.com/');
    expect([v4.reason, v4.category]).toEqual(['non_public_address', 'private']);
    const v6 = await refusal('https://mixed6.example.com/');
    expect([v6.reason, v6.category]).toEqual(['non_public_address', 'uniqueLocal']);
  });

  it('keeps resolved addresses out of the message, which goes to the customer', async () => {
    const error = await refusal('https://internal.example.com/');
    expect(error.message).toBe(
      'webhook URL refused: its host is or resolves to a non-public address (private)',
    );
    expect(error.message).not.toContain('10.1.2.3');
    expect(JSON.stringify(error)).not.toContain('10.1.2.3');
  });
});

describe('checkUrl: resolution', () => {
  it('refuses an unresolvable host and keeps the DNS error as the cause only', async () => {
    const error = await refusal('https://nowhere.example.com/');
    expect(error.reason).toBe('unresolvable');
    expect(error.category).toBeUndefined();
    expect((error.cause as { code?: string }).code).toBe('ENOTFOUND');
    expect(error.message).toBe('webhook URL refused: its host name could not be resolved');
  });

  it('refuses a host with no answers or a malformed answer', async () => {
    const empty: Resolver = async () => [];
    expect((await refusal('https://empty.example.com/', { resolver: empty })).reason).toBe('unresolvable');
    const garbage: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: 'not-an-ip', family: 4 },
    ];
    expect((await refusal('https://garbage.example.com/', { resolver: garbage })).reason).toBe(
      'unresolvable',
    );
  });

  it('recomputes the family from the address instead of trusting the resolver', async () => {
    const lying: Resolver = async () => [{ address: '2606:2800:220:1::1', family: 4 }];
    expect((await checkUrl('https://lying.example.com/', { resolver: lying })).addresses).toEqual([
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('uses the system resolver by default (localhost only, answered by /etc/hosts)', async () => {
    const refused = await checkUrl('https://localhost/').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SsrfRefusedError);
    expect((refused as SsrfRefusedError).reason).toBe('non_public_address');
    expect((refused as SsrfRefusedError).category).toBe('loopback');

    const allowed = await checkUrl('https://localhost/', { allowList: ['localhost'] });
    expect(allowed.addresses.length).toBeGreaterThan(0);
    for (const { address } of allowed.addresses) expect(['127.0.0.1', '::1']).toContain(address);
  });
});

describe('checkUrl: shape of the URL', () => {
  it('accepts https only by default', async () => {
    const error = await refusal('http://hooks.example.com/');
    expect(error.reason).toBe('scheme_not_https');
    expect(error.message).toBe('webhook URL refused: only https URLs are accepted');
  });

  it('accepts http when the policy allows it', async () => {
    const checked = await checkUrl('http://hooks.example.com/', { allowHttp: true, resolver: DNS });
    expect(checked.url.protocol).toBe('http:');
  });

  it.each([
    'ftp://hooks.example.com/',
    'file:///etc/passwd',
    'gopher://127.0.0.1:6379/_',
    'ws://hooks.example.com/',
    'javascript:alert(1)',
  ])('refuses the scheme of %s even with allowHttp', async (url) => {
    const error = await refusal(url, { allowHttp: true });
    expect(error.reason).toBe('scheme_not_https');
    expect(error.message).toBe('webhook URL refused: only http and https URLs are accepted');
  });

  it.each([
    'https://user:secret@hooks.example.com/',
    'https://user@hooks.example.com/',
    'https://:secret@hooks.example.com/',
    'https://hooks.example.com@127.0.0.1/',
  ])('refuses credentials in %s', async (url) => {
    const error = await refusal(url, { resolver: noDns });
    expect(error.reason).toBe('credentials_in_url');
    expect(error.message).not.toContain('secret');
  });

  it.each([
    'not a url',
    '/relative/path',
    'https://',
    'https://[fe80::1%25eth0]/',
    'https://exa mple.com/',
    'https://1.2.3.4.5/',
    '',
  ])('refuses %j as an invalid URL', async (url) => {
    expect((await refusal(url, { resolver: noDns })).reason).toBe('invalid_url');
  });

  it('refuses a non-string URL as invalid', async () => {
    expect((await refusal(42 as unknown as string)).reason).toBe('invalid_url');
  });

  it(`refuses URLs longer than ${MAX_URL_LENGTH} characters, before and after normalisation`, async () => {
    const base = 'https://hooks.example.com/';
    const exact = base + 'a'.repeat(MAX_URL_LENGTH - base.length);
    expect((await checkUrl(exact, { resolver: DNS })).url.href).toHaveLength(MAX_URL_LENGTH);
    const long = await refusal(`${exact}a`);
    expect(long.reason).toBe('url_too_long');
    // Each space becomes %20, so a 1,100-character input grows past the limit once parsed.
    const grows = await refusal(`${base}${' '.repeat(1000)}x`);
    expect(grows.reason).toBe('url_too_long');
  });

  it('applies allowedPorts to explicit and default ports', async () => {
    const policy: SsrfPolicy = { allowedPorts: [443, 8443], resolver: DNS };
    await expect(checkUrl('https://hooks.example.com/', policy)).resolves.toBeDefined();
    await expect(checkUrl('https://hooks.example.com:8443/', policy)).resolves.toBeDefined();
    const error = await refusal('https://hooks.example.com:22/', policy);
    expect(error.reason).toBe('port_not_allowed');
    expect(error.message).toBe('webhook URL refused: port 22 is not allowed');
    const plain = await refusal('http://hooks.example.com/', { ...policy, allowHttp: true });
    expect([plain.reason, plain.message]).toEqual([
      'port_not_allowed',
      'webhook URL refused: port 80 is not allowed',
    ]);
  });

  it('accepts any port by default, but never port 0', async () => {
    await expect(checkUrl('https://hooks.example.com:6379/', { resolver: DNS })).resolves.toBeDefined();
    expect((await refusal('https://hooks.example.com:0/')).reason).toBe('port_not_allowed');
  });
});

describe('checkUrl: allow-list', () => {
  it('allows a non-public IP listed exactly, over http too', async () => {
    const checked = await checkUrl('http://127.0.0.1:8080/hook', {
      allowList: ['127.0.0.1'],
      resolver: noDns,
    });
    expect(checked.addresses).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect((await refusal('http://127.0.0.2:8080/', { allowList: ['127.0.0.1'] })).reason).toBe(
      'scheme_not_https',
    );
    const outside = await refusal('https://127.0.0.2:8080/', { allowList: ['127.0.0.1'] });
    expect([outside.reason, outside.category]).toEqual(['non_public_address', 'loopback']);
  });

  it('allows addresses inside a listed CIDR and nothing outside it', async () => {
    const policy: SsrfPolicy = { allowList: ['127.0.0.0/8', 'fd00::/8'], resolver: noDns };
    await expect(checkUrl('https://127.42.0.1/', policy)).resolves.toBeDefined();
    await expect(checkUrl('https://[fd00::42]/', policy)).resolves.toBeDefined();
    expect((await refusal('https://10.0.0.1/', policy)).category).toBe('private');
    expect((await refusal('https://[fc00::1]/', policy)).category).toBe('uniqueLocal');
    // An IPv4 CIDR does not cover IPv6 forms: they are a different destination to the allow-list.
    expect((await refusal('https://[::ffff:127.0.0.1]/', policy)).category).toBe('loopback');
  });

  it('allows a listed IPv6 address written with or without brackets', async () => {
    await expect(checkUrl('https://[::1]/', { allowList: ['::1'], resolver: noDns })).resolves.toBeDefined();
    await expect(
      checkUrl('https://[::1]/', { allowList: ['[::1]'], resolver: noDns }),
    ).resolves.toBeDefined();
  });

  it('allows a listed host name whatever it resolves to, over http too', async () => {
    const checked = await checkUrl('http://Receiver.Test:9000/hook', {
      allowList: ['receiver.test.'],
      resolver: DNS,
    });
    expect(checked.addresses).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
  });

  it('does not extend a listed host name to other names that resolve to the same addresses', async () => {
    const resolver = fakeResolver({ 'receiver.test': ['127.0.0.1'], 'evil.example.com': ['127.0.0.1'] });
    const error = await refusal('https://evil.example.com/', { allowList: ['receiver.test'], resolver });
    expect([error.reason, error.category]).toEqual(['non_public_address', 'loopback']);
    expect(
      (await refusal('https://sub.receiver.test/', { allowList: ['receiver.test'], resolver })).reason,
    ).toBe('unresolvable');
  });

  it('allows a name resolving into a listed CIDR over https only', async () => {
    const resolver = fakeResolver({ 'svc.internal': ['10.9.8.7'] });
    const policy: SsrfPolicy = { allowList: ['10.0.0.0/8'], resolver };
    await expect(checkUrl('https://svc.internal/', policy)).resolves.toBeDefined();
    // http needs the host itself on the list: otherwise any name pointed at the range would get plain http.
    expect((await refusal('http://svc.internal/', policy)).reason).toBe('scheme_not_https');
  });

  it('still refuses credentials and bad ports for listed hosts', async () => {
    const policy: SsrfPolicy = { allowList: ['127.0.0.1'], allowedPorts: [8080], resolver: noDns };
    expect((await refusal('http://a:b@127.0.0.1:8080/', policy)).reason).toBe('credentials_in_url');
    expect((await refusal('http://127.0.0.1:9090/', policy)).reason).toBe('port_not_allowed');
  });

  it.each([
    [['127.0.0.0/33']],
    [['::/129']],
    [['127.1']],
    [['0x7f000001']],
    [['*.example.com']],
    [['https://example.com']],
    [['example.com:443']],
    [['user@example.com']],
    [['']],
    [[42 as unknown as string]],
  ])('rejects the malformed allow-list %j as a configuration error', async (allowList) => {
    expect(() => validateSsrfPolicy({ allowList })).toThrow(TypeError);
    await expect(checkUrl('https://hooks.example.com/', { allowList, resolver: DNS })).rejects.toThrow(
      TypeError,
    );
  });

  it('rejects malformed allowedPorts as a configuration error', () => {
    expect(() => validateSsrfPolicy({ allowedPorts: [0] })).toThrow(TypeError);
    expect(() => validateSsrfPolicy({ allowedPorts: [65_536] })).toThrow(TypeError);
    expect(() => validateSsrfPolicy({ allowedPorts: [443.5] })).toThrow(TypeError);
    expect(() =>
      validateSsrfPolicy({ allowList: ['localhost', '127.0.0.0/8', '::1'], allowedPorts: [443] }),
    ).not.toThrow();
  });
});
