import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CheckpointFormatError,
  CheckpointOriginError,
  formatCheckpoint,
  KeyFormatError,
  keyIdOf,
  leafHash,
  NoteFormatError,
  NoteSignatureError,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  sha256,
  signNote,
  signNoteWith,
  toBase64,
  toHex,
  UnverifiedNoteError,
  verifierKey,
  verifyNote,
} from '../src/index.ts';

/*
 * Interop vectors, copied verbatim:
 * - golang.org/x/mod/sumdb/note, package documentation (note.go) and note_test.go: the PeterNeumann
 *   signer key, verifier key and signed note.
 * - sum.golang.org's verifier key, as pinned in Go (cmd/go) and in google/trillian-examples; and two real
 *   sum.golang.org checkpoints: tree 6476701 from google/trillian-examples formats/log/checkpoint_test.go
 *   (TestSumDBNoteParsing), tree 15067302 with a second, unknown cosignature from
 *   google/trillian-examples witness/golang/cmd/addrwitness/README.md.
 */
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_NOTE = `${PETER_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_6476701 =
  'go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n' +
  '— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n';
const SUMDB_15067302 =
  'go.sum database tree\n15067302\ngJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI=\n\n' +
  '— sum.golang.org Az3grp1rvWOs5NKlr/xR4GLN/CDyzzakmt1o61uSxYKpK1SerqOP2ClbX/peKUZjYnyomH5Xz7GZG3TpB7OeKn4E2ww=\n' +
  '— test.example.com qTGhC/xIPQ0AXKHK6Y+9ypRfuvMZWPjRXM8NiOg5M1WREn07VQXyuIXM3NRNav3ieVFLUqDRK77PWDmL6w8w84UqeAw=\n';

const ORIGIN = 'massivesms.example/audit/eu';

function keyPair(name = ORIGIN) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: { name, privateKey }, vkey: verifierKey(name, publicKey) };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const ours = keyPair();
const rootHash = rootOf([leafHash(Buffer.from('a')), leafHash(Buffer.from('b')), leafHash(Buffer.from('c'))]);
const checkpointText = formatCheckpoint({ origin: ORIGIN, size: 3, rootHash });
const signed = signNote(checkpointText, ours.signer);

describe('interop with Go (golang.org/x/mod/sumdb/note) and sum.golang.org', () => {
  it('opens the PeterNeumann note of the Go documentation', () => {
    expect(openNote(PETER_NOTE, [PETER_VKEY])).toEqual({
      text: PETER_TEXT,
      verifiedBy: [{ name: 'PeterNeumann', keyId: 'c74f20a3' }],
    });
  });

  it('signs the PeterNeumann text byte for byte as Go does (Ed25519 is deterministic)', () => {
    expect(signNote(PETER_TEXT, parseSignerKey(PETER_SKEY))).toBe(PETER_NOTE);
  });

  it('signs through a port (signNoteWith) byte for byte as signNote does', async () => {
    const { name, privateKey } = parseSignerKey(PETER_SKEY);
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    const remote = {
      name,
      publicKey: new Uint8Array(spki.subarray(spki.length - 32)),
      sign: async (message: Uint8Array) => new Uint8Array(sign(null, message, privateKey)),
    };
    expect(await signNoteWith(PETER_TEXT, remote)).toBe(PETER_NOTE);
    await expect(
      signNoteWith(PETER_TEXT, { ...remote, sign: async () => new Uint8Array(10) }),
    ).rejects.toThrow(KeyFormatError);
    await expect(signNoteWith('no final newline', remote)).rejects.toThrow(NoteFormatError);
  });

  it('computes the published key ids from names and keys', () => {
    expect(parseVerifierKey(PETER_VKEY).name).toBe('PeterNeumann');
    const sumdb = parseVerifierKey(SUMDB_VKEY);
    expect(toHex(sumdb.keyId)).toBe('033de0ae');
    expect(verifierKey(sumdb.name, sumdb.publicKey)).toBe(SUMDB_VKEY);
  });

  it('verifies real sum.golang.org checkpoints, ignoring a cosignature by an unknown key', () => {
    expect(verifyNote(SUMDB_6476701, [SUMDB_VKEY], { origin: 'go.sum database tree' })).toMatchObject({
      origin: 'go.sum database tree',
      size: 6476701,
    });
    const checkpoint = verifyNote(SUMDB_15067302, [SUMDB_VKEY]);
    expect(checkpoint.size).toBe(15067302);
    expect(toBase64(checkpoint.rootHash)).toBe('gJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI=');
  });

  it('refuses a sum.golang.org checkpoint with its size or root changed', () => {
    expect(
      thrown(() => verifyNote(SUMDB_6476701.replace('6476701', '6476702'), [SUMDB_VKEY])),
    ).toBeInstanceOf(NoteSignatureError);
    expect(thrown(() => verifyNote(SUMDB_6476701.replace('mb8Q', 'mb8R'), [SUMDB_VKEY]))).toBeInstanceOf(
      NoteSignatureError,
    );
    expect(
      thrown(() => openNote(PETER_NOTE.replace('cryptography', 'cryptographY'), [PETER_VKEY])),
    ).toBeInstanceOf(NoteSignatureError);
  });

  it('refuses every truncation of a verifier key', () => {
    for (let i = 0; i < PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        expect(() => parseVerifierKey(PETER_VKEY.slice(i, j)), PETER_VKEY.slice(i, j)).toThrow(
          KeyFormatError,
        );
      }
    }
  });
});

describe('our checkpoints: format, sign, verify', () => {
  it('formats the checkpoint as three lines: origin, decimal size, base64 root', () => {
    expect(checkpointText).toBe(`${ORIGIN}\n3\n${toBase64(rootHash)}\n`);
    expect(signed.startsWith(`${checkpointText}\n— ${ORIGIN} `)).toBe(true);
    expect(signed.endsWith('\n')).toBe(true);
  });

  it('publishes the verifier key as name+keyid+base64(0x01 ‖ key), the key id being SHA-256(name ‖ LF ‖ 0x01 ‖ key)[:4]', () => {
    const [name, id, key] = [ORIGIN, ...ours.vkey.slice(ORIGIN.length + 1).split(/\+(.*)/s, 2)] as [
      string,
      string,
      string,
    ];
    expect(name).toBe(ORIGIN);
    const typed = Buffer.from(key, 'base64');
    expect(typed[0]).toBe(0x01);
    expect(id).toBe(toHex(sha256(Buffer.from(`${ORIGIN}\n`), typed).subarray(0, 4)));
    expect(id).toBe(toHex(keyIdOf(ORIGIN, typed.subarray(1))));
  });

  it('round-trips: verifyNote returns the origin, size and root that were signed', () => {
    expect(verifyNote(signed, [ours.vkey], { origin: ORIGIN })).toEqual({
      origin: ORIGIN,
      size: 3,
      rootHash,
      extensions: [],
    });
    expect(verifyNote(Buffer.from(signed), [parseVerifierKey(ours.vkey)]).size).toBe(3);
  });

  it('carries extension lines', () => {
    const text = formatCheckpoint({
      origin: ORIGIN,
      size: 0,
      rootHash: rootOf([]),
      extensions: ['timestamp 1700000000'],
    });
    expect(verifyNote(signNote(text, ours.signer), [ours.vkey]).extensions).toEqual(['timestamp 1700000000']);
  });

  it('refuses a mutated signature', () => {
    const sig = signed.slice(signed.lastIndexOf(' ') + 1, -1);
    const bytes = Buffer.from(sig, 'base64');
    bytes[10]! ^= 0x01;
    const tampered = signed.replace(sig, bytes.toString('base64'));
    expect(thrown(() => verifyNote(tampered, [ours.vkey]))).toBeInstanceOf(NoteSignatureError);
  });

  it('refuses a forked root: same size, another root, under our signature', () => {
    const forkedRoot = Buffer.from(rootHash);
    forkedRoot[0]! ^= 0x01;
    const forked = signed.replace(toBase64(rootHash), toBase64(forkedRoot));
    expect(thrown(() => verifyNote(forked, [ours.vkey]))).toBeInstanceOf(NoteSignatureError);
  });

  it('refuses a note signed by a key we do not trust, even one using our key name', () => {
    const impostor = keyPair(ORIGIN);
    const error = thrown(() => verifyNote(signNote(checkpointText, impostor.signer), [ours.vkey]));
    expect(error).toBeInstanceOf(UnverifiedNoteError);
    expect((error as UnverifiedNoteError).keyNames).toEqual([ORIGIN]);
    expect(thrown(() => verifyNote(signed, [impostor.vkey]))).toBeInstanceOf(UnverifiedNoteError);
  });

  it('accepts a note cosigned by others when one trusted signature verifies, and checks every trusted one', () => {
    const witness = keyPair('witness.example/w1');
    const cosigned = signNote(checkpointText, [ours.signer, witness.signer]);
    expect(openNote(cosigned, [ours.vkey]).verifiedBy).toHaveLength(1);
    expect(openNote(cosigned, [ours.vkey, witness.vkey]).verifiedBy.map((v) => v.name)).toEqual([
      ORIGIN,
      'witness.example/w1',
    ]);
    // A bad signature from a trusted witness sinks the note even though ours is fine.
    const lines = cosigned.split('\n');
    const witnessLine = lines.findIndex((l) => l.startsWith('— witness.example/w1 '));
    const blob = Buffer.from(lines[witnessLine]!.split(' ')[2]!, 'base64');
    blob[20]! ^= 0x80;
    lines[witnessLine] = `— witness.example/w1 ${blob.toString('base64')}`;
    const error = thrown(() => openNote(lines.join('\n'), [ours.vkey, witness.vkey]));
    expect(error).toBeInstanceOf(NoteSignatureError);
    expect((error as NoteSignatureError).keyName).toBe('witness.example/w1');
  });

  it('refuses a validly signed checkpoint of another log when the origin is given', () => {
    const other = formatCheckpoint({ origin: 'massivesms.example/audit/us', size: 3, rootHash });
    const error = thrown(() => verifyNote(signNote(other, ours.signer), [ours.vkey], { origin: ORIGIN }));
    expect(error).toBeInstanceOf(CheckpointOriginError);
  });
});

describe('strict parsing', () => {
  const b64Root = toBase64(rootHash);
  const signedText = (text: string) => signNote(text, ours.signer);

  it.each([
    ['leading zeros in the size', `${ORIGIN}\n03\n${b64Root}\n`],
    ['a plus sign in the size', `${ORIGIN}\n+3\n${b64Root}\n`],
    ['a size beyond 2^53', `${ORIGIN}\n9007199254740993\n${b64Root}\n`],
    ['a root that is not 32 bytes', `${ORIGIN}\n3\n${toBase64(rootHash.subarray(1))}\n`],
    ['a root in unpadded base64', `${ORIGIN}\n3\n${b64Root.replace(/=$/, '')}\n`],
    ['a root in URL-safe base64', `${ORIGIN}\n3\n${Buffer.from(rootHash).toString('base64url')}=\n`],
    ['a missing root line', `${ORIGIN}\n3\n`],
    ['an empty origin', `\n3\n${b64Root}\n`],
    ['an empty extension line', `${ORIGIN}\n3\n${b64Root}\n\nmore\n`],
  ])('a correctly signed note whose checkpoint has %s is refused', (_, text) => {
    expect(thrown(() => verifyNote(signedText(text), [ours.vkey]))).toBeInstanceOf(CheckpointFormatError);
  });

  it('a size of 0 is written as "0"', () => {
    expect(parseCheckpoint(`${ORIGIN}\n0\n${b64Root}\n`).size).toBe(0);
  });

  it.each([
    ['a hyphen instead of the em dash', signed.replace('— ', '- ')],
    ['no final newline', signed.slice(0, -1)],
    ['no blank line before the signatures', signed.replace('\n\n', '\n')],
    ['a carriage return', signed.replace(`${ORIGIN}\n3`, `${ORIGIN}\r\n3`)],
    ['a tab', signed.replace(ORIGIN, `${ORIGIN}\t`)],
    ['a signature line without a signature', `${checkpointText}\n— ${ORIGIN}\n`],
    ['a signature that is not base64', `${checkpointText}\n— ${ORIGIN} !!!!\n`],
    ['a signature too short for a key id', `${checkpointText}\n— ${ORIGIN} AAAA\n`],
    ['a key name with a plus', `${checkpointText}\n— a+b ${'A'.repeat(92)}\n`],
    ['no signature at all', `${checkpointText}\n`],
    ['more than 100 signatures', `${checkpointText}\n${`— someone ${'A'.repeat(92)}\n`.repeat(101)}`],
  ])('a note with %s is malformed', (_, note) => {
    expect(thrown(() => openNote(note, [ours.vkey]))).toBeInstanceOf(NoteFormatError);
  });

  it('refuses bytes that are not UTF-8', () => {
    const bytes = Buffer.concat([
      Buffer.from(signed.slice(0, 5)),
      Buffer.from([0xff]),
      Buffer.from(signed.slice(5)),
    ]);
    expect(thrown(() => openNote(bytes, [ours.vkey]))).toBeInstanceOf(NoteFormatError);
  });

  it('splits text from signatures at the last blank line, so note text may contain blank lines', () => {
    const text = 'first paragraph\n\nsecond paragraph\n';
    expect(openNote(signNote(text, ours.signer), [ours.vkey]).text).toBe(text);
  });

  it('will not sign or format what it could not parse back', () => {
    expect(() => signNote('no final newline', ours.signer)).toThrow(NoteFormatError);
    expect(() => signNote('a\u0000b\n', ours.signer)).toThrow(NoteFormatError);
    expect(() => formatCheckpoint({ origin: 'two\nlines', size: 1, rootHash })).toThrow(
      CheckpointFormatError,
    );
    expect(() => formatCheckpoint({ origin: ORIGIN, size: -1, rootHash })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: ORIGIN, size: 1, rootHash: rootHash.subarray(1) })).toThrow(
      CheckpointFormatError,
    );
    expect(() => verifierKey('has space', rootHash)).toThrow(KeyFormatError);
  });

  it('refuses verifier keys whose id, algorithm or encoding is wrong', () => {
    // An id of digits only reads the same in upper case: take a key whose id has a hex letter.
    let lettered = ours;
    while (!/^\+[0-9]*[a-f]/.test(lettered.vkey.slice(ORIGIN.length))) lettered = keyPair();
    const [name, id, key] = [ORIGIN, ...lettered.vkey.slice(ORIGIN.length + 1).split(/\+(.*)/s, 2)] as [
      string,
      string,
      string,
    ];
    const typed = Buffer.from(key, 'base64');
    const other = Buffer.from(typed);
    other[0] = 0x02;
    for (const bad of [
      `${name}+${id.replace(/^./, id[0] === '0' ? '1' : '0')}+${key}`,
      `${name}+${id.toUpperCase()}+${key}`,
      `${name}+${id}+${other.toString('base64')}`,
      `${name}+${id}+${key.slice(0, -1)}`,
      `${name}+${id}+${key}=`,
      `${name}+${id}+${typed.subarray(0, 32).toString('base64')}`,
    ]) {
      expect(() => parseVerifierKey(bad), bad).toThrow(KeyFormatError);
    }
  });
});
