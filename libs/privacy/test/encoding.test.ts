import { describe, expect, it } from 'vitest';
import { associatedData } from '../src/encoding.ts';

describe('associatedData', () => {
  // Stored ciphertexts and wrapped keys are bound to this exact encoding: it must never change.
  it.each([
    [[], ''],
    [[''], '00000000'],
    [['ab', 'c'], '0000000261620000000163'],
    [['a', 'bc'], '0000000161000000026263'],
    [['Zoë'], '000000045a6fc3ab'],
  ])('encodes %j as 4-byte big-endian UTF-8 lengths, each before its part', (parts, hex) => {
    expect(associatedData(parts).toString('hex')).toBe(hex);
  });
});
