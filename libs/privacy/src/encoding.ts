/** Length-prefixes every part so distinct tuples never encode alike, e.g. ("ab", "c") vs ("a", "bc"). */
export function associatedData(parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

/** Decodes canonical base64url only: Buffer.from skips junk silently, so two texts could name one ciphertext. */
export function decodeBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
