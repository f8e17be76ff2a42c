// How a carrier counts the parts of a body (3GPP TS 23.038): the simulators report `parts` /
// `num_segments` the way the carriers do. Kept independent of the router's counter on purpose, so a
// test that compares the two is a real cross-check rather than the same code agreeing with itself.

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
    ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
    '¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** The encoding a carrier picks for a body and the number of SMS parts it bills. */
export interface CarrierSegments {
  readonly encoding: 'GSM-7' | 'UCS-2';
  readonly parts: number;
}

/** Counts parts the way carriers split: an escape pair or surrogate pair never straddles two parts. */
export function carrierSegments(text: string, forced?: 'gsm7' | 'ucs2'): CarrierSegments {
  const chars = [...text];
  const fitsGsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  // A forced gsm7 on a body that does not fit would be transliterated by the carrier; counting it as
  // UCS-2 would overstate parts, so count the characters as GSM-7 units anyway.
  const gsm = forced === 'gsm7' || (forced !== 'ucs2' && fitsGsm);
  const single = gsm ? 160 : 70;
  const part = gsm ? 153 : 67;
  let units = 0;
  let parts = 1;
  let used = 0;
  for (const c of chars) {
    const n = gsm ? (GSM7_EXTENSION.has(c) ? 2 : 1) : c.length;
    units += n;
    if (used + n > part) {
      parts += 1;
      used = n;
    } else {
      used += n;
    }
  }
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', parts: units <= single ? 1 : parts };
}
