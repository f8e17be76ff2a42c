/**
 * A controller's audit export (DPA §10): the format, and its offline verifier. Nothing here touches a
 * database: an auditor checks a bundle with this code (`massivesms audit verify-export`) or their own.
 *
 * The bundle is one JSON document in RFC 8785 canonical form, `{"files":{…},"format":"massivesms.audit-export/1"}`,
 * mapping file names to their UTF-8 text:
 * - `manifest.json`: canonical JSON: format, origin, cell, controller, period, entry count, first and
 *   last seq, the head checkpoint (proofs are against it), the checkpoints included with consistency
 *   proofs between them, and the SHA-256 of every other file except `manifest.sig`.
 * - `manifest.sig`: a C2SP signed note by the ledger's key over `massivesms.audit-export/1\n<origin>\n
 *   <base64 SHA-256 of manifest.json>\n` (its first line is no origin, so it can never pass as a checkpoint).
 * - `entries.jsonl`: one canonical JSON object per line: `seq`, `leafIndex` (= seq − 1), `entry` (base64
 *   of the exact bytes hashed: the RFC 8785 form of the processing event), `proof` (base64 hashes: the
 *   RFC 6962 inclusion proof of the leaf in the head checkpoint's tree).
 * - `checkpoints/<tree size>.txt`: the signed checkpoints, as signed.
 * - `key.txt`: the ledger's verifier key (`<origin>+<key id>+<base64 key>`), to compare with the one
 *   MassiveSMS publishes.
 */
import {
  bytesEqual,
  type Checkpoint,
  canonicalBytes,
  fromBase64Strict,
  leafHash,
  openNote,
  parseVerifierKey,
  sha256,
  toBase64,
  toHex,
  verifyConsistency,
  verifyInclusion,
  verifyNote,
} from '@massivesms/ledger';
import { z } from 'zod';

export const EXPORT_FORMAT = 'massivesms.audit-export/1';

const size = z.number().int().min(1);
const hashes = z.array(z.string()).max(64);

/** The manifest of an export; every field is checked by verifyExport. */
export const exportManifestSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  origin: z.string(),
  cell: z.string(),
  controllerId: z.string(),
  /** Entries whose event occurred in [from, to). */
  period: z.strictObject({ from: z.iso.datetime(), to: z.iso.datetime() }),
  generatedAt: z.iso.datetime(),
  entries: z.number().int().min(0),
  firstSeq: size.nullable(),
  lastSeq: size.nullable(),
  /** Tree size of the checkpoint every inclusion proof is against (the newest when exported). */
  head: size,
  /** Tree sizes of the checkpoints included, ascending; the last is the head. */
  checkpoints: z.array(size).min(1),
  /** Consistency proofs between consecutive included checkpoints (base64 hashes). */
  consistency: z.array(z.strictObject({ from: size, to: size, proof: hashes })),
  /** SHA-256 (hex) of every file but manifest.json and manifest.sig. */
  files: z.record(z.string(), z.string()),
});
export type ExportManifest = z.infer<typeof exportManifestSchema>;

/** One line of entries.jsonl. */
export const exportEntrySchema = z.strictObject({
  seq: size,
  leafIndex: z.number().int().min(0),
  entry: z.string(),
  proof: hashes,
});
export type ExportEntry = z.infer<typeof exportEntrySchema>;

/** The text the manifest signature covers. */
export function manifestSignedText(origin: string, manifest: Uint8Array): string {
  return `${EXPORT_FORMAT}\n${origin}\n${toBase64(sha256(manifest))}\n`;
}

/** Serialises a bundle: the canonical JSON bytes of `{files, format}`. */
export function encodeBundle(files: Readonly<Record<string, string>>): Uint8Array {
  return canonicalBytes({ format: EXPORT_FORMAT, files });
}

/** Canonical text of a JSON value (manifest, entry lines). */
export function canonicalText(value: unknown): string {
  return Buffer.from(canonicalBytes(value)).toString('utf8');
}

export type ExportVerification =
  | {
      readonly ok: true;
      readonly manifest: ExportManifest;
      readonly keyId: string;
    }
  | {
      readonly ok: false;
      /** The file (or `bundle`) where verification failed. */
      readonly file: string;
      /** The entry's seq, when one entry failed. */
      readonly seq?: number;
      readonly reason: string;
      readonly message: string;
    };

class ExportInvalid extends Error {
  readonly file: string;
  readonly reason: string;
  readonly seq: number | undefined;
  constructor(file: string, reason: string, message: string, seq?: number) {
    super(message);
    this.file = file;
    this.reason = reason;
    this.seq = seq;
  }
}

/**
 * Verifies a bundle offline. `trustedKey`: the verifier key MassiveSMS published; without it the
 * bundle's own key.txt is used (which proves integrity, not origin: compare keyId with the published one).
 * Stops at the first problem and names its file (and seq).
 */
export function verifyExport(bundle: Uint8Array, options: { trustedKey?: string } = {}): ExportVerification {
  try {
    const { manifest, keyId } = check(bundle, options.trustedKey);
    return { ok: true, manifest, keyId };
  } catch (error) {
    if (error instanceof ExportInvalid)
      return {
        ok: false,
        file: error.file,
        reason: error.reason,
        message: error.message,
        ...(error.seq === undefined ? {} : { seq: error.seq }),
      };
    throw error;
  }
}

function check(
  bundleBytes: Uint8Array,
  trustedKey: string | undefined,
): { manifest: ExportManifest; keyId: string } {
  const bundle = parseCanonical(bundleBytes, 'bundle') as { format?: unknown; files?: unknown };
  if (bundle.format !== EXPORT_FORMAT || !isStringRecord(bundle.files) || Object.keys(bundle).length !== 2)
    throw new ExportInvalid('bundle', 'format', `not a ${EXPORT_FORMAT} bundle`);
  const files = bundle.files;
  const file = (name: string): string => {
    const text = files[name];
    if (text === undefined) throw new ExportInvalid(name, 'missing_file', `${name} is missing`);
    return text;
  };

  // The key: the published one if given, and the bundle must carry that same key.
  const keyText = file('key.txt');
  let key: ReturnType<typeof parseVerifierKey>;
  try {
    key = parseVerifierKey(keyText.trimEnd());
  } catch (error) {
    throw new ExportInvalid('key.txt', 'key', (error as Error).message);
  }
  if (keyText !== `${keyText.trimEnd()}\n`)
    throw new ExportInvalid('key.txt', 'key', 'key.txt must be one line');
  if (trustedKey !== undefined && trustedKey.trim() !== keyText.trimEnd())
    throw new ExportInvalid(
      'key.txt',
      'untrusted_key',
      'the bundle was signed with another key than the one trusted',
    );

  // The manifest: canonical, signed by that key, and naming the hash of every other file.
  const manifestText = file('manifest.json');
  const manifestBytes = Buffer.from(manifestText, 'utf8');
  const manifest = shaped(
    exportManifestSchema,
    parseCanonical(manifestBytes, 'manifest.json'),
    'manifest.json',
  );
  if (manifest.origin !== key.name)
    throw new ExportInvalid('manifest.json', 'format', `format or origin does not match the key ${key.name}`);
  let signedText: string;
  try {
    signedText = openNote(file('manifest.sig'), [key]).text;
  } catch (error) {
    throw new ExportInvalid('manifest.sig', 'signature', (error as Error).message);
  }
  if (signedText !== manifestSignedText(manifest.origin, manifestBytes))
    throw new ExportInvalid('manifest.sig', 'signature', 'the signature is not over this manifest');
  const listed = Object.keys(manifest.files ?? {});
  for (const name of Object.keys(files)) {
    if (name === 'manifest.json' || name === 'manifest.sig') continue;
    if (!listed.includes(name))
      throw new ExportInvalid(name, 'unlisted_file', `${name} is not in the manifest`);
  }
  for (const name of listed) {
    if (toHex(sha256(Buffer.from(file(name), 'utf8'))) !== manifest.files[name])
      throw new ExportInvalid(name, 'file_hash', `${name} does not match its SHA-256 in the manifest`);
  }

  // Checkpoints: signed by the key, for the origin, of the sizes listed; consistent with each other.
  const heads = new Map<number, Checkpoint>();
  for (const size of manifest.checkpoints) {
    const name = `checkpoints/${size}.txt`;
    let cp: Checkpoint;
    try {
      cp = verifyNote(file(name), [key], { origin: manifest.origin });
    } catch (error) {
      throw new ExportInvalid(name, 'checkpoint', (error as Error).message);
    }
    if (cp.size !== size)
      throw new ExportInvalid(name, 'checkpoint', `${name} is a checkpoint of size ${cp.size}`);
    heads.set(size, cp);
  }
  const head = heads.get(manifest.head);
  if (!head || manifest.checkpoints.at(-1) !== manifest.head)
    throw new ExportInvalid(
      'manifest.json',
      'head',
      `the head checkpoint ${manifest.head} is not the last one included`,
    );
  for (let i = 1; i < manifest.checkpoints.length; i++) {
    const m = manifest.checkpoints[i - 1]!;
    const n = manifest.checkpoints[i]!;
    const step = manifest.consistency[i - 1];
    if (!step || step.from !== m || step.to !== n)
      throw new ExportInvalid('manifest.json', 'consistency', `no consistency proof from ${m} to ${n}`);
    try {
      verifyConsistency(
        m,
        n,
        step.proof.map((h) => decode64(h, 'manifest.json')),
        heads.get(m)!.rootHash,
        heads.get(n)!.rootHash,
      );
    } catch (error) {
      throw new ExportInvalid(
        'manifest.json',
        'consistency',
        `checkpoint ${n} is not an extension of ${m}: ${(error as Error).message}`,
      );
    }
  }
  if (manifest.consistency.length !== Math.max(0, manifest.checkpoints.length - 1))
    throw new ExportInvalid(
      'manifest.json',
      'consistency',
      'consistency proofs do not match the checkpoints',
    );

  // Entries: this controller's only, in the period, in ledger order, each proven in the head's tree.
  const text = file('entries.jsonl');
  const lines = text === '' ? [] : text.split('\n');
  if (lines.length > 0 && lines.pop() !== '')
    throw new ExportInvalid('entries.jsonl', 'format', 'entries.jsonl must end with a newline');
  let previous = 0;
  for (const line of lines) {
    const row = shaped(
      exportEntrySchema,
      parseCanonical(Buffer.from(line, 'utf8'), 'entries.jsonl'),
      'entries.jsonl',
    );
    const seq = row.seq;
    const bad = (reason: string, message: string) =>
      new ExportInvalid('entries.jsonl', reason, `seq ${seq}: ${message}`, seq);
    if (!Number.isSafeInteger(seq) || seq <= previous)
      throw bad('order', 'entries must be in increasing seq order');
    if (row.leafIndex !== seq - 1 || seq > manifest.head)
      throw bad('leaf_index', 'leaf index must be seq − 1, within the head');
    const bytes = decode64(row.entry, 'entries.jsonl', seq);
    const event = parseCanonical(bytes, 'entries.jsonl', seq) as {
      controllerId?: unknown;
      occurredAt?: unknown;
    };
    if (event.controllerId !== manifest.controllerId)
      throw bad('controller', 'the entry belongs to another controller');
    const at = typeof event.occurredAt === 'string' ? Date.parse(event.occurredAt) : Number.NaN;
    if (!(at >= Date.parse(manifest.period.from) && at < Date.parse(manifest.period.to)))
      throw bad('period', 'the entry is outside the period');
    try {
      verifyInclusion(
        leafHash(bytes),
        row.leafIndex,
        manifest.head,
        row.proof.map((h) => decode64(h, 'entries.jsonl', seq)),
        head.rootHash,
      );
    } catch (error) {
      throw bad('inclusion', `not in the tree of checkpoint ${manifest.head}: ${(error as Error).message}`);
    }
    previous = seq;
  }
  const firstSeq = lines.length > 0 ? (JSON.parse(lines[0]!) as ExportEntry).seq : null;
  if (
    lines.length !== manifest.entries ||
    firstSeq !== manifest.firstSeq ||
    (lines.length > 0 ? previous : null) !== manifest.lastSeq
  )
    throw new ExportInvalid('manifest.json', 'count', 'entry count or seq range differs from entries.jsonl');
  return { manifest, keyId: toHex(key.keyId) };
}

/** Parses JSON that must be in RFC 8785 canonical form, so that no byte can change unnoticed. */
function parseCanonical(bytes: Uint8Array, file: string, seq?: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ExportInvalid(file, 'json', `not valid JSON: ${(error as Error).message}`, seq);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ExportInvalid(file, 'json', 'not a JSON object', seq);
  let canonical: Uint8Array;
  try {
    canonical = canonicalBytes(value);
  } catch (error) {
    throw new ExportInvalid(file, 'canonical', (error as Error).message, seq);
  }
  if (!bytesEqual(canonical, bytes))
    throw new ExportInvalid(file, 'canonical', 'not in RFC 8785 canonical form', seq);
  return value as Record<string, unknown>;
}

function shaped<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ExportInvalid(file, 'format', z.prettifyError(parsed.error).replace(/\n/g, '; '));
  return parsed.data;
}

function decode64(text: unknown, file: string, seq?: number): Uint8Array {
  const bytes = typeof text === 'string' ? fromBase64Strict(text) : undefined;
  if (!bytes) throw new ExportInvalid(file, 'base64', 'a hash or entry is not canonical base64', seq);
  return bytes;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}
