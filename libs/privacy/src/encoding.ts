/** Length-prefixes every part so distinct tuples never encode alike, e.g. ("ab", "c") vs ("a", "bc"). */
export function associatedData(parts: readonly string[]): Buffer {
  // One allocation, measured first: this runs once per field encrypted or decrypted.
  let size = 0;
  for (const part of parts) size += 4 + Buffer.byteLength(part, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) {
    const length = out.write(part, at + 4, 'utf8');
    out.writeUInt32BE(length, at);
    at += 4 + length;
  }
  return out;
}

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

/** Decodes canonical base64url only: Buffer.from skips junk silently, so two texts could name one ciphertext. */
export function decodeBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
