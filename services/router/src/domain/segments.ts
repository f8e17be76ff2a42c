// How many SMS a body costs, as carriers bill it (3GPP TS 23.038 / 23.040). Pure: no I/O.
//
// GSM-7 carries 160 septets in one SMS; a concatenated message spends 7 of them on the user data
// header, leaving 153 per part. UCS-2 carries 70 UTF-16 code units, 67 per part. Carriers never
// split an escape pair (ESC + extension character) or a surrogate pair across parts, so a part can
// end one unit short; counting by `ceil(units / perPart)` would then undercount, and the segment
// count is what we bill and cap on. The text is counted as given: no Unicode normalisation, because
// the carrier sees exactly these characters (a decomposed `e` + U+0301 is UCS-2, a precomposed `é`
// is GSM-7).

/** The cap on segments per message unless a controller sets another: 10 parts is ≈1,530 GSM-7 characters, close to the carriers' 1,600-character body limit. */
export const MAX_SEGMENTS_DEFAULT = 10;

/** Encoding, billed length in encoding units, and the number of SMS parts a body needs. */
export interface SegmentCount {
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** GSM-7 septets (extension characters count 2) or UTF-16 code units (an emoji counts 2). */
  readonly units: number;
  readonly segments: number;
}

const GSM7_SINGLE = 160;
const GSM7_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

// The GSM 03.38 default alphabet, in table order (0x00–0x7F), without ESC (0x1B), which is not a
// character but the prefix of the extension table. Only capital Ç is in it (0x09): a lowercase ç
// forces UCS-2. The Greek capitals are the ten with no Latin look-alike; Greek Α, Β, Ε… are not.
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
    ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
    '¿abcdefghijklmnopqrstuvwxyzäöñüà',
);

// The extension table reachable through ESC: each costs two septets (ESC + code).
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** Counts the encoding, units and SMS parts of a body; an empty body is 0 units in 1 segment, since a sent SMS is billed as one. */
export function countSegments(text: string): SegmentCount {
  // Iterating a string yields code points, so a surrogate pair arrives as one 2-unit item.
  const chars = [...text];
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const cost = gsm ? (c: string): number => (GSM7_EXTENSION.has(c) ? 2 : 1) : (c: string): number => c.length; // 2 for a surrogate pair, 1 otherwise (even a lone surrogate)
  const single = gsm ? GSM7_SINGLE : UCS2_SINGLE;
  const part = gsm ? GSM7_PART : UCS2_PART;

  let units = 0;
  // Greedy packing: an indivisible 1- or 2-unit item that does not fit in the current part opens
  // the next one, which is what carriers do when they split a long message.
  let segments = 1;
  let used = 0;
  for (const c of chars) {
    const n = cost(c);
    units += n;
    if (used + n > part) {
      segments += 1;
      used = n;
    } else {
      used += n;
    }
  }
  // Up to the single-message limit nothing is split and no header is spent, so 154–160 GSM-7
  // units are one SMS although they overflow a concatenated part.
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments: units <= single ? 1 : segments };
}
