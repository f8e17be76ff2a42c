import { describe, expect, it } from 'vitest';
import {
  defineSubprocessorRegistry,
  findSubprocessor,
  NOTICE_PERIOD_DAYS,
  PrivacyError,
  processesOutsideRegion,
  publicSubprocessorList,
  SUBPROCESSORS,
  type Subprocessor,
  SubprocessorRegistryError,
  subprocessorStatus,
} from '../src/index.ts';

const DAY_MS = 86_400_000;
/** Day 0 of the fake clock: the day the new subprocessor is announced. */
const DAY_0 = Date.UTC(2026, 2, 2);
const day = (n: number, ms = 0) => new Date(DAY_0 + n * DAY_MS + ms);

/** A carrier added after go-live: announced on day 0, usable from day 30. */
const SINCH: Subprocessor = {
  name: 'sinch',
  legalEntity: 'Sinch Sweden AB',
  purpose: 'sms.delivery',
  route: 'failover',
  regions: { eu: { location: 'Sweden (Stockholm)', country: 'SE', host: 'eu.sms.api.sinch.com' } },
  dataCategories: ['user.contact.phone_number', 'user.content.private'],
  noticeDate: '2026-03-02',
  effectiveDate: '2026-04-01',
  transferMechanisms: [],
};

const withSinch = () => defineSubprocessorRegistry([...SUBPROCESSORS, SINCH]);

function registryError(entries: readonly Subprocessor[]): SubprocessorRegistryError {
  try {
    defineSubprocessorRegistry(entries);
  } catch (error) {
    if (error instanceof SubprocessorRegistryError) return error;
    throw error;
  }
  throw new Error('expected the registry to be refused');
}

describe('built-in subprocessor registry', () => {
  it('routes SMS through Telnyx first and Twilio as failover', () => {
    expect(SUBPROCESSORS.map((entry) => [entry.name, entry.route, entry.purpose])).toEqual([
      ['telnyx', 'primary', 'sms.delivery'],
      ['twilio', 'failover', 'sms.delivery'],
    ]);
  });

  it.each([
    ['telnyx', 'us', 'United States', 'US', 'api.telnyx.com'],
    ['telnyx', 'eu', 'EU (Frankfurt, Germany)', 'DE', 'api.telnyx.eu'],
    ['twilio', 'us', 'United States (US1)', 'US', 'api.twilio.com'],
    ['twilio', 'eu', 'Ireland (IE1, Dublin)', 'IE', 'api.dublin.ie1.twilio.com'],
  ] as const)('%s serves %s from %s (%s) via %s', (name, region, location, country, host) => {
    const entry = findSubprocessor(name);
    expect(entry?.regions[region]).toEqual({ location, country, host });
    // Both carriers process in-region, so no transfer mechanism is needed for either cell.
    expect(processesOutsideRegion(entry!, region)).toBe(false);
  });

  it('declares the fideslang categories the carriers receive', () => {
    for (const entry of SUBPROCESSORS) {
      expect(entry.dataCategories, entry.name).toEqual(['user.contact.phone_number', 'user.content.private']);
    }
  });

  it('has both carriers effective today and nothing else', () => {
    const now = new Date();
    expect(subprocessorStatus('telnyx', now)).toBe('effective');
    expect(subprocessorStatus('twilio', now)).toBe('effective');
    expect(subprocessorStatus('sinch', now)).toBe('unknown');
    expect(subprocessorStatus('toString', now)).toBe('unknown');
  });

  it('is frozen, so nothing can add a subprocessor at run time', () => {
    expect(Object.isFrozen(SUBPROCESSORS)).toBe(true);
    expect(Object.isFrozen(SUBPROCESSORS[0]?.regions.eu)).toBe(true);
    expect(() => (SUBPROCESSORS as unknown as Subprocessor[]).push(SINCH)).toThrow(TypeError);
  });
});

describe('registry self-validation', () => {
  it(`refuses an entry effective less than ${NOTICE_PERIOD_DAYS} days after its notice`, () => {
    const error = registryError([...SUBPROCESSORS, { ...SINCH, effectiveDate: '2026-03-31' }]);
    expect(error).toBeInstanceOf(PrivacyError);
    expect(error.code).toBe('PRIVACY_SUBPROCESSOR_REGISTRY_INVALID');
    expect(error.problems).toEqual([
      'sinch.effectiveDate: 2026-03-31 is less than 30 days after noticeDate 2026-03-02 (DPA §6)',
    ]);
  });

  it('accepts an entry effective exactly 30 days after its notice', () => {
    expect(withSinch().map((entry) => entry.name)).toEqual(['telnyx', 'twilio', 'sinch']);
  });

  it('lists every problem of every entry at once', () => {
    const error = registryError([
      SINCH,
      { ...SINCH, route: 'secondary' as 'primary' },
      { ...SINCH, name: 'acme', noticeDate: '2026-02-30', regions: {} },
      { ...SINCH, name: 'beta', effectiveDate: '2026-03-02' },
    ]);
    expect(error.problems).toEqual([
      expect.stringMatching(/^sinch\.route: /),
      'sinch: listed twice',
      'acme.regions: must serve a region',
      'acme.noticeDate: must be a YYYY-MM-DD date',
      'beta.effectiveDate: 2026-03-02 is less than 30 days after noticeDate 2026-03-02 (DPA §6)',
    ]);
  });

  it.each([
    [
      'an unknown transfer mechanism',
      { transferMechanisms: ['BCR' as 'EU-US DPF'] },
      /^sinch\.transferMechanisms\.0: /,
    ],
    ['no data categories', { dataCategories: [] }, /^sinch\.dataCategories: /],
    ['a lower-case country', { regions: { eu: { location: 'x', country: 'se', host: 'a.b' } } }, /country/],
    ['an upper-case name', { name: 'Sinch' }, /^Sinch\.name: /],
  ])('refuses %s', (_, change, problem) => {
    expect(registryError([{ ...SINCH, ...change }]).problems).toEqual([expect.stringMatching(problem)]);
  });

  it('keeps its own copy, so editing the input afterwards changes nothing', () => {
    const entry = structuredClone(SINCH) as { -readonly [K in keyof Subprocessor]: Subprocessor[K] };
    const registry = defineSubprocessorRegistry([entry]);
    entry.effectiveDate = '2026-03-03';
    expect(registry[0]?.effectiveDate).toBe('2026-04-01');
  });
});

describe('subprocessor lifecycle on a fake clock', () => {
  it.each([
    [-1, 0, 'unknown'],
    [0, 0, 'noticed'],
    [29, 0, 'noticed'],
    [29, DAY_MS - 1, 'noticed'], // last millisecond of day 29
    [30, 0, 'effective'],
    [31, 0, 'effective'],
  ] as const)('day %i (+%i ms): %s', (n, ms, status) => {
    expect(subprocessorStatus('sinch', day(n, ms), withSinch())).toBe(status);
  });

  it('fails closed on an invalid clock', () => {
    expect(subprocessorStatus('telnyx', new Date(Number.NaN))).toBe('unknown');
  });
});

describe('public subprocessor list', () => {
  it('publishes name, entity, purpose, locations, categories, dates and status', () => {
    const list = publicSubprocessorList(day(0));
    expect(list[0]).toEqual({
      name: 'telnyx',
      legalEntity: 'Telnyx LLC',
      purpose: 'sms.delivery',
      route: 'primary',
      regions: [
        { region: 'us', location: 'United States', country: 'US', host: 'api.telnyx.com' },
        { region: 'eu', location: 'EU (Frankfurt, Germany)', country: 'DE', host: 'api.telnyx.eu' },
      ],
      dataCategories: ['user.contact.phone_number', 'user.content.private'],
      transferMechanisms: ['EU-US DPF', 'SCC 2021/914 module 3'],
      noticeDate: '2024-06-03',
      effectiveDate: '2024-07-03',
      status: 'effective',
    });
    expect(list.map((entry) => entry.name)).toEqual(['telnyx', 'twilio']);
    // Plain data: the control API can send it as JSON unchanged.
    expect(JSON.parse(JSON.stringify(list))).toEqual(list);
  });

  it.each([
    [-1, undefined],
    [0, 'noticed'],
    [29, 'noticed'],
    [30, 'effective'],
  ] as const)('on day %i shows the new subprocessor as %s', (n, status) => {
    const entry = publicSubprocessorList(day(n), withSinch()).find((row) => row.name === 'sinch');
    expect(entry?.status).toBe(status);
  });

  it('hands out copies that cannot change the registry', () => {
    const [first] = publicSubprocessorList(day(0));
    (first!.dataCategories as string[]).push('user.name');
    expect(findSubprocessor('telnyx')?.dataCategories).toHaveLength(2);
  });
});

describe('processing location', () => {
  it.each([
    [
      'an EU cell served from the US',
      { eu: { location: 'United States', country: 'US', host: 'a.example' } },
      'eu',
      true,
    ],
    [
      'a US cell served from Germany',
      { us: { location: 'Germany', country: 'DE', host: 'a.example' } },
      'us',
      true,
    ],
    [
      'an EU cell served from the UK (DPA §7)',
      { eu: { location: 'London', country: 'GB', host: 'a.example' } },
      'eu',
      false,
    ],
    ['a region it does not serve', { us: { location: 'US', country: 'US', host: 'a.example' } }, 'eu', false],
  ] as const)('%s: needs a mechanism = %s', (_, regions, home, outside) => {
    expect(processesOutsideRegion({ ...SINCH, regions }, home)).toBe(outside);
  });
});
