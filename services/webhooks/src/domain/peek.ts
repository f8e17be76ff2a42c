/**
 * The value of a string field of a JSON object, read from the bytes without parsing them, or
 * undefined unless it can be read with certainty: the field appears exactly once, as a key (right
 * after `{` or `,`, which inside a JSON string would be escaped), in compact form (`"name":"`), and
 * its value is a plain string with no escape and at most 128 bytes. Whoever gets undefined decodes the
 * record in full; so a peek never decides alone about a record it could misread.
 */
export function peekJsonString(bytes: Uint8Array, field: string): string | undefined {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const needle = `"${field}":"`;
  const at = buffer.indexOf(needle, 0, 'latin1');
  if (at <= 0) return undefined;
  const before = buffer[at - 1];
  if (before !== 0x7b /* { */ && before !== 0x2c /* , */) return undefined;
  if (buffer.indexOf(needle, at + needle.length, 'latin1') !== -1) return undefined;
  const start = at + needle.length;
  const end = buffer.indexOf(0x22 /* " */, start);
  if (end === -1 || end - start > 128) return undefined;
  if (buffer.subarray(start, end).includes(0x5c /* \ */)) return undefined;
  return buffer.toString('utf8', start, end);
}
