import { findSubprocessor } from '@massivesms/privacy';
import { describe, expect, it } from 'vitest';
import { regionHosts } from '../src/config.ts';

// DPA §2/§7: each cell calls its own region's carrier hosts; EU traffic never leaves EU hosts.
describe('carrier hosts per cell', () => {
  it.each(['us', 'eu'] as const)(
    'the %s cell calls exactly the hosts the subprocessor registry lists for it',
    (cell) => {
      for (const carrier of ['telnyx', 'twilio'] as const) {
        const registered = findSubprocessor(carrier)?.regions[cell]?.host;
        expect(new URL(regionHosts[cell][carrier]).host).toBe(registered);
      }
    },
  );

  it('no EU host is a US host', () => {
    const us = Object.values(regionHosts.us).map((u) => new URL(u).host);
    for (const host of Object.values(regionHosts.eu).map((u) => new URL(u).host))
      expect(us).not.toContain(host);
  });
});
