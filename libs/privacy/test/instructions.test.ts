import { describe, expect, it } from 'vitest';
import {
  defineSubprocessorRegistry,
  INSTRUCTION_PROBLEM_CODES,
  type InstructionContext,
  type InstructionProblemCode,
  InvalidInstructionError,
  instructionSchema,
  parseInstruction,
  type Region,
  SUBPROCESSORS,
  type Subprocessor,
  type SubprocessorRegistry,
  validateInstruction,
} from '../src/index.ts';

const DAY_MS = 86_400_000;
const DAY_0 = Date.UTC(2026, 2, 2);
const day = (n: number, ms = 0) => new Date(DAY_0 + n * DAY_MS + ms);

const carrier = (name: string, changes: Partial<Subprocessor>): Subprocessor => ({
  name,
  legalEntity: `${name} Ltd`,
  purpose: 'sms.delivery',
  route: 'failover',
  regions: { eu: { location: 'Sweden', country: 'SE', host: `${name}.example` } },
  dataCategories: ['user.contact.phone_number', 'user.content.private'],
  noticeDate: '2025-01-06',
  effectiveDate: '2025-02-05',
  transferMechanisms: ['EU-US DPF', 'SCC 2021/914 module 3'],
  ...changes,
});

/** Built-in carriers plus injected ones that exercise what the real two never do. */
const REGISTRY: SubprocessorRegistry = defineSubprocessorRegistry([
  ...SUBPROCESSORS,
  // Announced on day 0, usable from day 30.
  carrier('sinch', { noticeDate: '2026-03-02', effectiveDate: '2026-04-01' }),
  // Serves EU controllers from the United States: a transfer.
  carrier('acme', {
    regions: {
      us: { location: 'United States', country: 'US', host: 'us.acme.example' },
      eu: { location: 'United States', country: 'US', host: 'eu.acme.example' },
    },
  }),
  // Same, but only SCCs are in place with it.
  carrier('scconly', {
    regions: { eu: { location: 'United States', country: 'US', host: 'scconly.example' } },
    transferMechanisms: ['SCC 2021/914 module 3'],
  }),
  // Serves US controllers only.
  carrier('usonly', {
    regions: { us: { location: 'United States', country: 'US', host: 'usonly.example' } },
  }),
]);

const context = (changes: Partial<InstructionContext> = {}): InstructionContext => ({
  homeRegion: 'eu',
  now: day(0),
  maxRetentionDays: { content: 30, metadata: 400 },
  registry: REGISTRY,
  ...changes,
});

/** A document every rule accepts for an EU controller. */
const valid = () => ({
  purposes: ['marketing.communications.sms', 'essential.service.notifications.sms'],
  subprocessors: ['telnyx', 'twilio'],
  retention: { contentDays: 7, metadataDays: 365 },
  storeContentAfterDispatch: false,
  quietHours: { start: '21:00', end: '08:00', timeZone: 'Europe/Berlin', action: 'hold' },
});

function problemsOf(doc: unknown, ctx: InstructionContext = context()) {
  const result = validateInstruction(doc, ctx);
  if (result.ok) throw new Error('expected the instruction to be refused');
  return result.notice.problems;
}

describe('validateInstruction accepts', () => {
  it('a complete EU instruction routed Telnyx → Twilio, both in-region, without transfer mechanisms', () => {
    const result = validateInstruction(valid(), context());
    expect(result).toEqual({
      ok: true,
      instruction: {
        ...valid(),
        // Purposes are a set: normalised to sorted order so equal instructions hash alike.
        purposes: ['essential.service.notifications.sms', 'marketing.communications.sms'],
      },
    });
  });

  it.each<[string, Record<string, unknown>, Partial<InstructionContext>]>([
    ['a US controller with the built-in registry', {}, { homeRegion: 'us', registry: undefined }],
    ['no quiet hours', { quietHours: undefined }, {}],
    ['retention exactly at the maximum', { retention: { contentDays: 30, metadataDays: 400 } }, {}],
    [
      'quiet hours within one day',
      { quietHours: { start: '00:00', end: '23:59', timeZone: 'UTC', action: 'reject' } },
      {},
    ],
    [
      'a transfer with a mechanism in place',
      { subprocessors: ['acme'], transferMechanisms: { acme: 'EU-US DPF' } },
      {},
    ],
    ['a mechanism where none is needed', { transferMechanisms: { telnyx: 'SCC 2021/914 module 3' } }, {}],
    ['a subprocessor on day 30 of its notice', { subprocessors: ['telnyx', 'sinch'] }, { now: day(30) }],
  ])('%s', (_, changes, ctx) => {
    const result = validateInstruction({ ...valid(), ...changes }, context(ctx));
    expect(result.ok ? [] : result.notice.problems).toEqual([]);
  });

  it('duplicate purposes, collapsing them', () => {
    const doc = { ...valid(), purposes: ['marketing.communications.sms', 'marketing.communications.sms'] };
    const result = validateInstruction(doc, context());
    expect(result.ok && result.instruction.purposes).toEqual(['marketing.communications.sms']);
  });
});

type Case = [
  code: InstructionProblemCode,
  path: string,
  name: string,
  doc: unknown,
  ctx: Partial<InstructionContext>,
  message: RegExp,
];

const quiet = valid().quietHours;
const cases: Case[] = [
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'storeContentAfterDispatch',
    'a mistyped field',
    { ...valid(), storeContentAfterDispatch: 'no' },
    {},
    /^storeContentAfterDispatch must be true or false$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'region',
    'an extra field',
    { ...valid(), region: 'us' },
    {},
    /^"region" is not a field of the instruction$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'quietHours.days',
    'an extra nested field',
    { ...valid(), quietHours: { ...quiet, days: ['sat'] } },
    {},
    /^"days" is not a field of quietHours$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'retention.metadataDays',
    'a missing field',
    { ...valid(), retention: { contentDays: 7 } },
    {},
    /^retention\.metadataDays is required$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'retention.contentDays',
    'a fractional retention',
    { ...valid(), retention: { contentDays: 1.5, metadataDays: 1 } },
    {},
    /^retention\.contentDays must be a whole number$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'retention.contentDays',
    'a negative retention',
    { ...valid(), retention: { contentDays: -1, metadataDays: 1 } },
    {},
    /must be at least 0$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'purposes',
    'no purposes',
    { ...valid(), purposes: [] },
    {},
    /^purposes must list at least 1 entry$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'subprocessors',
    'an empty route',
    { ...valid(), subprocessors: [] },
    {},
    /^subprocessors must list at least 1 entry$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'quietHours.action',
    'an unknown quiet-hours action',
    { ...valid(), quietHours: { ...quiet, action: 'drop' } },
    {},
    /^quietHours\.action must be one of "hold", "reject"$/,
  ],
  [
    'INSTRUCTION_SCHEMA_INVALID',
    'transferMechanisms.telnyx',
    'a mechanism outside the vocabulary',
    { ...valid(), transferMechanisms: { telnyx: 'BCR' } },
    {},
    /must be one of "EU-US DPF", "SCC 2021\/914 module 3"$/,
  ],
  ['INSTRUCTION_SCHEMA_INVALID', '', 'not an object', null, {}, /^the instruction must be an object$/],
  [
    'INSTRUCTION_UNKNOWN_PURPOSE',
    'purposes[0]',
    'product improvement as purpose',
    { ...valid(), purposes: ['functional.service.improve'] },
    {},
    /"functional\.service\.improve" is not allowed for SMS; allowed purposes: essential/,
  ],
  [
    'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
    'subprocessors[1]',
    'an unlisted carrier',
    { ...valid(), subprocessors: ['telnyx', 'messagebird'] },
    {},
    /"messagebird" is not on our subprocessor list/,
  ],
  [
    'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
    'subprocessors[0]',
    'a carrier not announced yet (day -1)',
    { ...valid(), subprocessors: ['sinch'] },
    { now: day(-1) },
    /not on our subprocessor list/,
  ],
  [
    'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
    'transferMechanisms.telnix',
    'a mechanism for a misspelt carrier',
    { ...valid(), transferMechanisms: { telnix: 'EU-US DPF' } },
    {},
    /"telnix"/,
  ],
  [
    'INSTRUCTION_SUBPROCESSOR_NOT_EFFECTIVE',
    'subprocessors[1]',
    'a carrier on day 29 of its notice',
    { ...valid(), subprocessors: ['telnyx', 'sinch'] },
    { now: day(29, DAY_MS - 1) },
    /announced on 2026-03-02 and may only be used from 2026-04-01/,
  ],
  [
    'INSTRUCTION_SUBPROCESSOR_REGION',
    'subprocessors[1]',
    'a carrier that does not serve the EU',
    { ...valid(), subprocessors: ['telnyx', 'usonly'] },
    {},
    /"usonly" does not serve the eu region/,
  ],
  [
    'INSTRUCTION_SUBPROCESSOR_REGION',
    'subprocessors[0]',
    'a carrier that does not serve the US',
    { ...valid(), subprocessors: ['sinch'] },
    { homeRegion: 'us', now: day(30) },
    /does not serve the us region/,
  ],
  [
    'INSTRUCTION_TRANSFER_MECHANISM_REQUIRED',
    'transferMechanisms.acme',
    'EU data processed in the US without a mechanism',
    { ...valid(), subprocessors: ['telnyx', 'acme'] },
    {},
    /processes eu data in United States, outside the eu region; name a transfer mechanism \(EU-US DPF, SCC 2021\/914 module 3\)/,
  ],
  [
    'INSTRUCTION_TRANSFER_MECHANISM_UNAVAILABLE',
    'transferMechanisms.scconly',
    'a mechanism the carrier does not have',
    { ...valid(), subprocessors: ['scconly'], transferMechanisms: { scconly: 'EU-US DPF' } },
    {},
    /"EU-US DPF" is not in place with "scconly"; available: SCC 2021\/914 module 3/,
  ],
  [
    'INSTRUCTION_RETENTION_TOO_LONG',
    'retention.contentDays',
    'content kept too long',
    { ...valid(), retention: { contentDays: 31, metadataDays: 365 } },
    {},
    /content retention of 31 days exceeds the maximum of 30 days/,
  ],
  [
    'INSTRUCTION_RETENTION_TOO_LONG',
    'retention.metadataDays',
    'metadata kept too long',
    { ...valid(), retention: { contentDays: 7, metadataDays: 401 } },
    {},
    /metadata retention of 401 days/,
  ],
  [
    'INSTRUCTION_QUIET_HOURS_INVALID',
    'quietHours.start',
    'an hour past 23',
    { ...valid(), quietHours: { ...quiet, start: '24:00' } },
    {},
    /"24:00" is not a 24-hour HH:MM time/,
  ],
  [
    'INSTRUCTION_QUIET_HOURS_INVALID',
    'quietHours.end',
    'a time without a leading zero',
    { ...valid(), quietHours: { ...quiet, end: '8:00' } },
    {},
    /HH:MM/,
  ],
  [
    'INSTRUCTION_QUIET_HOURS_INVALID',
    'quietHours.end',
    'an empty window',
    { ...valid(), quietHours: { ...quiet, end: '21:00' } },
    {},
    /must end at a different time/,
  ],
  [
    'INSTRUCTION_QUIET_HOURS_INVALID',
    'quietHours.timeZone',
    'an unknown time zone',
    { ...valid(), quietHours: { ...quiet, timeZone: 'Europe/Atlantis' } },
    {},
    /"Europe\/Atlantis" is not an IANA time zone/,
  ],
  [
    'INSTRUCTION_QUIET_HOURS_INVALID',
    'quietHours.timeZone',
    'an offset instead of a time zone',
    { ...valid(), quietHours: { ...quiet, timeZone: '+01:00' } },
    {},
    /IANA/,
  ],
  [
    'INSTRUCTION_DUPLICATE_SUBPROCESSOR',
    'subprocessors[2]',
    'a carrier listed twice',
    { ...valid(), subprocessors: ['telnyx', 'twilio', 'telnyx'] },
    {},
    /"telnyx" is listed more than once/,
  ],
];

describe('validateInstruction refuses, with exactly one problem,', () => {
  it.each(cases)('%s at %s: %s', (code, path, _, doc, ctx, message) => {
    const problems = problemsOf(doc, context(ctx));
    expect(problems.map((p) => [p.code, p.path])).toEqual([[code, path]]);
    expect(problems[0]?.message).toMatch(message);
  });

  it('has a case for every documented code', () => {
    const covered = new Set(cases.map((c) => c[0]));
    expect([...covered].sort()).toEqual(Object.keys(INSTRUCTION_PROBLEM_CODES).sort());
  });
});

describe('the DPA §3 notice', () => {
  it('lists every problem at once, in document order', () => {
    const result = validateInstruction(
      {
        purposes: ['essential.service.notifications.sms', 'functional.service.improve'],
        subprocessors: ['telnyx', 'messagebird', 'telnyx', 'acme', 'usonly'],
        retention: { contentDays: 90, metadataDays: 365 },
        quietHours: { start: '22:00', end: '22:00', timeZone: 'Mars/Olympus_Mons', action: 'hold' },
        color: 'blue',
      },
      context(),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.notice.problems.map((p) => [p.code, p.path])).toEqual([
      ['INSTRUCTION_UNKNOWN_PURPOSE', 'purposes[1]'],
      ['INSTRUCTION_UNKNOWN_SUBPROCESSOR', 'subprocessors[1]'],
      ['INSTRUCTION_DUPLICATE_SUBPROCESSOR', 'subprocessors[2]'],
      ['INSTRUCTION_SUBPROCESSOR_REGION', 'subprocessors[4]'],
      ['INSTRUCTION_RETENTION_TOO_LONG', 'retention.contentDays'],
      ['INSTRUCTION_SCHEMA_INVALID', 'storeContentAfterDispatch'],
      ['INSTRUCTION_QUIET_HOURS_INVALID', 'quietHours.timeZone'],
      ['INSTRUCTION_QUIET_HOURS_INVALID', 'quietHours.end'],
      ['INSTRUCTION_TRANSFER_MECHANISM_REQUIRED', 'transferMechanisms.acme'],
      ['INSTRUCTION_SCHEMA_INVALID', 'color'],
    ]);
    expect(result.notice.summary).toMatch(/^The instruction was not accepted \(10 problems\)\..*DPA §3/);
  });

  it('reports both the notice period and the region of one carrier', () => {
    const ctx = context({ homeRegion: 'us' as Region, now: day(29) });
    expect(problemsOf({ ...valid(), subprocessors: ['sinch'] }, ctx).map((p) => p.code)).toEqual([
      'INSTRUCTION_SUBPROCESSOR_NOT_EFFECTIVE',
      'INSTRUCTION_SUBPROCESSOR_REGION',
    ]);
  });

  it('keeps messages short and free of internals even for hostile input', () => {
    const long = `x${'y'.repeat(10_000)}`;
    const problems = problemsOf({ ...valid(), purposes: [long], subprocessors: [long.slice(0, 64)] });
    expect(problems.map((p) => p.code)).toEqual([
      'INSTRUCTION_UNKNOWN_PURPOSE',
      'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
    ]);
    for (const { message } of problems) {
      expect(message.length).toBeLessThan(300);
      expect(message).not.toMatch(/\bat .*\.ts:\d+|Error:|undefined|\[object/);
    }
  });

  it('treats names like Object.prototype members as unknown subprocessors', () => {
    const transferMechanisms = JSON.parse('{"__proto__":"EU-US DPF"}'); // an own key, as a JSON body has it
    const problems = problemsOf({ ...valid(), subprocessors: ['constructor'], transferMechanisms });
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ['INSTRUCTION_UNKNOWN_SUBPROCESSOR', 'subprocessors[0]'],
      ['INSTRUCTION_UNKNOWN_SUBPROCESSOR', 'transferMechanisms.__proto__'],
    ]);
  });
});

describe('fake clock: a new subprocessor in an instruction', () => {
  it.each([
    [0, 0, false],
    [29, 0, false],
    [29, DAY_MS - 1, false],
    [30, 0, true],
  ] as const)('day %i (+%i ms): accepted = %s', (n, ms, accepted) => {
    const result = validateInstruction(
      { ...valid(), subprocessors: ['telnyx', 'sinch'] },
      context({ now: day(n, ms) }),
    );
    expect(result.ok).toBe(accepted);
  });

  it('refuses everything on an invalid clock (fail closed)', () => {
    const problems = problemsOf(valid(), context({ now: new Date(Number.NaN) }));
    expect(problems.map((p) => p.code)).toEqual([
      'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
      'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
    ]);
  });
});

describe('instruction schema', () => {
  it('accepts a valid document on its own (for docs and clients)', () => {
    expect(instructionSchema.safeParse(valid()).success).toBe(true);
  });

  it('parseInstruction throws a coded error listing the schema problems', () => {
    try {
      parseInstruction({ ...valid(), purposes: ['functional.service.improve'], extra: 1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInstructionError);
      const { code, problems } = error as InvalidInstructionError;
      expect(code).toBe('PRIVACY_INSTRUCTION_INVALID');
      expect(problems.map((p) => p.code)).toEqual([
        'INSTRUCTION_UNKNOWN_PURPOSE',
        'INSTRUCTION_SCHEMA_INVALID',
      ]);
    }
  });
});
