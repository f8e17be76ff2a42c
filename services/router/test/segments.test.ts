import { describe, expect, it } from 'vitest';
import { countSegments, MAX_SEGMENTS_DEFAULT } from '../src/domain/segments.ts';

// Expectations are worked out by hand from the rules (GSM-7: 160 single, 153 per part, extension
// characters cost 2; UCS-2: 70 single, 67 per part, surrogate pairs cost 2; pairs never split),
// not read back from the implementation. The arithmetic is in each row's name.

const r = (s: string, n: number): string => s.repeat(n);
const EMOJI = '😀'; // U+1F600: one code point, two UTF-16 code units
const CYR = 'ж'; // not in GSM-7: forces UCS-2, one code unit

interface Row {
  name: string;
  text: string;
  encoding: 'GSM-7' | 'UCS-2';
  units: number;
  segments: number;
}

const gsm: Row[] = [
  { name: 'empty body: 0 units, billed as one SMS', text: '', encoding: 'GSM-7', units: 0, segments: 1 },
  { name: '160 basic chars fit one SMS', text: r('a', 160), encoding: 'GSM-7', units: 160, segments: 1 },
  { name: '161 chars: 153 + 8', text: r('a', 161), encoding: 'GSM-7', units: 161, segments: 2 },
  { name: '306 chars: 153 + 153', text: r('a', 306), encoding: 'GSM-7', units: 306, segments: 2 },
  { name: '307 chars: 153 + 153 + 1', text: r('a', 307), encoding: 'GSM-7', units: 307, segments: 3 },
  { name: '80 € = 160 units fit one SMS', text: r('€', 80), encoding: 'GSM-7', units: 160, segments: 1 },
  {
    name: '81 € = 162 units: 76 € (152) + 5 €',
    text: r('€', 81),
    encoding: 'GSM-7',
    units: 162,
    segments: 2,
  },
  {
    // ceil(306 / 153) would say 2; 76 € fill a part to 152, the 77th does not fit in the 1 left.
    name: '153 € = 306 units: 76 + 76 + 1 (pairs never split)',
    text: r('€', 153),
    encoding: 'GSM-7',
    units: 306,
    segments: 3,
  },
  {
    name: '152 a + € + 10 b = 164 units: € moves to part 2 (152 | 2 + 10)',
    text: `${r('a', 152)}€${r('b', 10)}`,
    encoding: 'GSM-7',
    units: 164,
    segments: 2,
  },
  {
    // ceil(306 / 153) would say 2: part 1 is 152 a (€ does not fit the 153rd unit), part 2 is
    // € + 151 b = 153, the last b opens part 3.
    name: '152 a + € + 152 b = 306 units: 152 | 2 + 151 | 1',
    text: `${r('a', 152)}€${r('b', 152)}`,
    encoding: 'GSM-7',
    units: 306,
    segments: 3,
  },
  {
    name: '151 a + € + 8 b = 161 units: € fills part 1 exactly (151 + 2 = 153) | 8',
    text: `${r('a', 151)}€${r('b', 8)}`,
    encoding: 'GSM-7',
    units: 161,
    segments: 2,
  },
  {
    name: 'every extension character and form feed cost 2',
    text: '^{}\\[~]|€\f',
    encoding: 'GSM-7',
    units: 20,
    segments: 1,
  },
  {
    name: 'the whole basic table (127 chars, no ESC) costs 1 each',
    text:
      '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
      '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
    encoding: 'GSM-7',
    units: 127,
    segments: 1,
  },
  {
    name: 'Greek capitals of the GSM table (U+0394, U+03A6, …) stay GSM-7',
    text: '\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e',
    encoding: 'GSM-7',
    units: 10,
    segments: 1,
  },
  { name: 'capital Ç is GSM-7 (0x09)', text: 'Ça va', encoding: 'GSM-7', units: 5, segments: 1 },
  { name: 'CR LF count 1 each', text: 'a\r\nb', encoding: 'GSM-7', units: 4, segments: 1 },
  {
    name: '1,600 basic chars: 10 × 153 = 1,530 + 70 → 11',
    text: r('x', 1600),
    encoding: 'GSM-7',
    units: 1600,
    segments: 11,
  },
  {
    // 3,200 units; a part holds 76 € (152), so 1,600 / 76 = 21.05 → 22, where ceil(3200 / 153) = 21.
    name: '1,600 € = 3,200 units: 76 € per part → 22',
    text: r('€', 1600),
    encoding: 'GSM-7',
    units: 3200,
    segments: 22,
  },
  {
    // 800 × "a€" = 2,400 units; each pair "a€" is 3 units. A part holds 51 pairs (153) exactly,
    // so 800 / 51 = 15.69 → 16 parts, same as ceil(2400 / 153) = 16: packing loses nothing here.
    name: '1,600 chars alternating a€: 2,400 units, 51 pairs per part → 16',
    text: r('a€', 800),
    encoding: 'GSM-7',
    units: 2400,
    segments: 16,
  },
];

const ucs2: Row[] = [
  { name: 'lowercase ç is not GSM-7 (only Ç is)', text: 'ça va', encoding: 'UCS-2', units: 5, segments: 1 },
  {
    name: 'one ç turns a GSM message into UCS-2: 160 a + ç = 161 units, parts of 67 → 3',
    text: `${r('a', 160)}ç`,
    encoding: 'UCS-2',
    units: 161,
    segments: 3,
  },
  {
    name: 'Greek capital Alpha (U+0391) is not GSM-7',
    text: '\u0391',
    encoding: 'UCS-2',
    units: 1,
    segments: 1,
  },
  { name: 'backtick is not GSM-7 (0x60 is ¿)', text: '`', encoding: 'UCS-2', units: 1, segments: 1 },
  { name: 'tab is not GSM-7', text: 'a\tb', encoding: 'UCS-2', units: 3, segments: 1 },
  { name: 'curly apostrophe is not GSM-7', text: 'it’s', encoding: 'UCS-2', units: 4, segments: 1 },
  {
    name: 'decomposed é (e + U+0301) is counted as given: UCS-2',
    text: 'caf\u0065\u0301',
    encoding: 'UCS-2',
    units: 5,
    segments: 1,
  },
  {
    name: '€ costs 1 code unit once in UCS-2',
    text: `€€${CYR}`,
    encoding: 'UCS-2',
    units: 3,
    segments: 1,
  },
  { name: '70 chars fit one SMS', text: r(CYR, 70), encoding: 'UCS-2', units: 70, segments: 1 },
  { name: '71 chars: 67 + 4', text: r(CYR, 71), encoding: 'UCS-2', units: 71, segments: 2 },
  { name: '134 chars: 67 + 67', text: r(CYR, 134), encoding: 'UCS-2', units: 134, segments: 2 },
  { name: '135 chars: 67 + 67 + 1', text: r(CYR, 135), encoding: 'UCS-2', units: 135, segments: 3 },
  { name: '35 emoji = 70 units fit one SMS', text: r(EMOJI, 35), encoding: 'UCS-2', units: 70, segments: 1 },
  { name: '36 emoji = 72 units: 33 (66) + 3', text: r(EMOJI, 36), encoding: 'UCS-2', units: 72, segments: 2 },
  {
    // ceil(134 / 67) would say 2; a part holds 33 emoji (66 units), so 33 + 33 + 1.
    name: '67 emoji = 134 units: 33 + 33 + 1 (pairs never split)',
    text: r(EMOJI, 67),
    encoding: 'UCS-2',
    units: 134,
    segments: 3,
  },
  {
    // Part 1: 66 ж (the emoji would be units 67–68), part 2: emoji + 65 ж = 67, part 3: 1 ж.
    name: '66 ж + emoji + 66 ж = 134 units: 66 | 2 + 65 | 1',
    text: `${r(CYR, 66)}${EMOJI}${r(CYR, 66)}`,
    encoding: 'UCS-2',
    units: 134,
    segments: 3,
  },
  {
    name: '65 ж + emoji + 4 ж = 71 units: the emoji ends part 1 exactly (65 + 2 = 67) | 4',
    text: `${r(CYR, 65)}${EMOJI}${r(CYR, 4)}`,
    encoding: 'UCS-2',
    units: 71,
    segments: 2,
  },
  {
    name: '1,600 chars: 23 × 67 = 1,541 + 59 → 24',
    text: r(CYR, 1600),
    encoding: 'UCS-2',
    units: 1600,
    segments: 24,
  },
];

describe('countSegments', () => {
  it.each(gsm)('GSM-7: $name', ({ text, encoding, units, segments }) => {
    expect(countSegments(text)).toEqual({ encoding, units, segments });
  });

  it.each(ucs2)('UCS-2: $name', ({ text, encoding, units, segments }) => {
    expect(countSegments(text)).toEqual({ encoding, units, segments });
  });
});

describe('MAX_SEGMENTS_DEFAULT', () => {
  it('is 10', () => {
    expect(MAX_SEGMENTS_DEFAULT).toBe(10);
  });
});
