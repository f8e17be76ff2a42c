import { describe, expect, it } from 'vitest';
import { type AddressCategory, classifyAddress, type EmbeddingForm } from '../src/index.ts';

// [address, expected category, why it is in the table]
const IPV4: readonly [string, AddressCategory, string][] = [
  ['93.184.216.34', 'public', 'example.com'],
  ['8.8.8.8', 'public', 'public resolver'],
  ['172.15.255.255', 'public', 'just below 172.16/12'],
  ['172.32.0.0', 'public', 'just above 172.16/12'],
  ['100.63.255.255', 'public', 'just below 100.64/10'],
  ['100.128.0.0', 'public', 'just above 100.64/10'],
  ['198.20.0.0', 'public', 'just above 198.18/15'],
  ['127.0.0.1', 'loopback', '127/8'],
  ['127.255.255.254', 'loopback', 'top of 127/8'],
  ['10.0.0.1', 'private', '10/8'],
  ['172.16.0.1', 'private', '172.16/12'],
  ['172.31.255.255', 'private', 'top of 172.16/12'],
  ['192.168.1.1', 'private', '192.168/16'],
  ['169.254.0.1', 'linkLocal', '169.254/16'],
  ['169.254.169.254', 'metadata', 'AWS/GCP/Azure metadata'],
  ['169.254.170.2', 'metadata', 'AWS ECS credentials'],
  ['100.100.100.200', 'metadata', 'Alibaba metadata, inside CGNAT'],
  ['100.64.0.1', 'carrierGradeNat', '100.64/10'],
  ['100.127.255.255', 'carrierGradeNat', 'top of 100.64/10'],
  ['0.0.0.0', 'unspecified', 'any-address'],
  ['0.1.2.3', 'unspecified', '0/8 "this network"'],
  ['255.255.255.255', 'broadcast', 'limited broadcast'],
  ['224.0.0.1', 'multicast', '224/4'],
  ['239.255.255.250', 'multicast', 'SSDP, top of 224/4'],
  ['240.0.0.1', 'reserved', '240/4'],
  ['192.0.0.8', 'reserved', 'IETF protocol assignments'],
  ['192.88.99.1', 'reserved', '6to4 relay anycast'],
  ['192.175.48.1', 'reserved', 'AS112, named by ipaddr.js only'],
  ['192.0.2.1', 'documentation', 'TEST-NET-1'],
  ['198.51.100.7', 'documentation', 'TEST-NET-2'],
  ['203.0.113.9', 'documentation', 'TEST-NET-3'],
  ['198.18.0.1', 'benchmarking', '198.18/15'],
  ['198.19.255.255', 'benchmarking', 'top of 198.18/15'],
];

const IPV6: readonly [string, AddressCategory, string][] = [
  ['2606:2800:220:1::1', 'public', 'example.com network'],
  ['2001:4860:4860::8888', 'public', 'public resolver'],
  ['2a00:1450:4001::1', 'public', 'global unicast'],
  ['::', 'unspecified', 'any-address'],
  ['::1', 'loopback', 'loopback'],
  ['fe80::1', 'linkLocal', 'fe80::/10'],
  ['febf:ffff::1', 'linkLocal', 'top of fe80::/10'],
  ['fe80::1%eth0', 'linkLocal', 'zone id is ignored'],
  ['fc00::1', 'uniqueLocal', 'fc00::/7'],
  ['fd12:3456:789a::1', 'uniqueLocal', 'fd00::/8'],
  ['fd00:ec2::254', 'metadata', 'AWS metadata over IPv6'],
  ['ff02::1', 'multicast', 'all nodes'],
  ['ff0e::1', 'multicast', 'global scope multicast'],
  ['2001:db8::1', 'documentation', '2001:db8::/32'],
  ['3fff::1', 'documentation', '3fff::/20'],
  ['2001:2::1', 'benchmarking', '2001:2::/48'],
  ['2002:7f00:1::1', '6to4', '6to4 of 127.0.0.1'],
  ['2002:5db8:d822::1', '6to4', '6to4 of a public address is still not vettable'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo', 'Teredo'],
  ['64:ff9b:1::a00:1', 'nat64', 'local-use NAT64: embedded IPv4 position unknown'],
  ['fec0::1', 'reserved', 'deprecated site-local'],
  ['100::1', 'reserved', 'discard prefix'],
  ['4000::1', 'reserved', 'outside 2000::/3'],
  ['::1:0:0:1', 'reserved', 'inside ::/8, no embedding form'],
  ['2001:10::1', 'reserved', 'ORCHID, inside 2001::/23'],
  ['2620:4f:8000::1', 'reserved', 'AS112v6, named by ipaddr.js only'],
];

// [address, embedded IPv4 category, form, embedded IPv4]
const EMBEDDED: readonly [string, AddressCategory, EmbeddingForm, string][] = [
  ['::ffff:127.0.0.1', 'loopback', 'ipv4Mapped', '127.0.0.1'],
  ['::ffff:7f00:1', 'loopback', 'ipv4Mapped', '127.0.0.1'],
  ['0:0:0:0:0:ffff:10.0.0.1', 'private', 'ipv4Mapped', '10.0.0.1'],
  ['::ffff:169.254.169.254', 'metadata', 'ipv4Mapped', '169.254.169.254'],
  ['::ffff:100.64.0.1', 'carrierGradeNat', 'ipv4Mapped', '100.64.0.1'],
  ['::ffff:8.8.8.8', 'public', 'ipv4Mapped', '8.8.8.8'],
  ['::127.0.0.1', 'loopback', 'ipv4Compatible', '127.0.0.1'],
  ['::a01:203', 'private', 'ipv4Compatible', '10.1.2.3'],
  ['::ffff:0:192.168.0.1', 'private', 'ipv4Translated', '192.168.0.1'],
  ['64:ff9b::a00:1', 'private', 'nat64', '10.0.0.1'],
  ['64:ff9b::127.0.0.1', 'loopback', 'nat64', '127.0.0.1'],
  ['64:ff9b::a9fe:a9fe', 'metadata', 'nat64', '169.254.169.254'],
  ['64:ff9b::808:808', 'public', 'nat64', '8.8.8.8'],
];

describe('classifyAddress', () => {
  it.each(IPV4)('IPv4 %s is %s (%s)', (ip, category) => {
    expect(classifyAddress(ip)).toEqual({ public: category === 'public', category });
  });

  it.each(IPV6)('IPv6 %s is %s (%s)', (ip, category) => {
    expect(classifyAddress(ip)).toEqual({ public: category === 'public', category });
  });

  it.each(EMBEDDED)('IPv6 %s is judged by its IPv4: %s via %s', (ip, category, form, ipv4) => {
    expect(classifyAddress(ip)).toEqual({
      public: category === 'public',
      category,
      embeddedIn: form,
      embeddedIpv4: ipv4,
    });
  });

  it('covers every non-public category named in the design', () => {
    const seen = new Set([...IPV4, ...IPV6, ...EMBEDDED].map(([ip]) => classifyAddress(ip).category));
    for (const category of [
      'loopback',
      'private',
      'linkLocal',
      'carrierGradeNat',
      'uniqueLocal',
      'metadata',
      'nat64',
      '6to4',
      'teredo',
      'multicast',
      'reserved',
      'unspecified',
      'broadcast',
      'documentation',
      'benchmarking',
    ] satisfies AddressCategory[]) {
      expect(seen, category).toContain(category);
    }
  });

  it.each([
    ['not-an-ip'],
    [''],
    ['127.1'],
    ['0x7f.0.0.1'],
    ['2130706433'],
    ['010.0.0.1'],
    ['10.0.0.0/8'],
    ['[::1]'],
    ['::ffff:0x7f.0.0.1'],
  ])('refuses %j, which is not a strictly spelled IP address', (value) => {
    expect(() => classifyAddress(value)).toThrow(TypeError);
  });
});
