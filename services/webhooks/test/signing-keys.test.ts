import type { EndpointState } from '@massivesms/contracts';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import { describe, expect, it } from 'vitest';
import { signingKeys } from '../src/application/endpoints.ts';
import { signatureHeader } from '../src/domain/signing.ts';
import { newSecret } from './harness.ts';

describe('signing keys: decrypted and imported once per endpoint revision, not per attempt', async () => {
  const keyring = new Keyring({
    kms: new LocalKms(generateMasterKey()),
    store: new InMemoryControllerKeyStore(),
  });
  await keyring.create(toControllerId('acme'));
  const keys = await keyring.get(toControllerId('acme'));
  const now = new Date();
  const endpoint = (
    revision: number,
    secrets: { secret: string; expiresAt: string | null }[],
  ): EndpointState => ({
    endpointId: 'ep-1',
    controllerId: 'acme',
    url: 'https://example.com/hook',
    eventTypes: ['message.delivered'],
    enabled: true,
    revision,
    secrets: secrets.map((s, i) => ({
      secretId: `sec_${i + 1}`,
      secret: encryptField(keys.dataKey, s.secret, {
        controllerId: toControllerId('acme'),
        recordId: 'ep-1',
        field: `secret:sec_${i + 1}`,
      }),
      createdAt: now.toISOString(),
      expiresAt: s.expiresAt,
    })),
    updatedAt: now.toISOString(),
  });
  const current = newSecret();
  const previous = newSecret();
  const later = new Date(now.getTime() + 60_000).toISOString();

  it('signs as the secrets do, with every secret still valid (both during a rotation)', () => {
    const e = endpoint(1, [
      { secret: current, expiresAt: null },
      { secret: previous, expiresAt: later },
    ]);
    expect(signatureHeader(signingKeys(e, keys, now), 'msg_1', 1_700_000_000, '{}')).toBe(
      signatureHeader([current, previous], 'msg_1', 1_700_000_000, '{}'),
    );
  });

  it('keeps the keys of a revision: the next attempt gets the same key objects', () => {
    const e = endpoint(2, [{ secret: current, expiresAt: null }]);
    const first = signingKeys(e, keys, now);
    expect(signingKeys(e, keys, now)[0]).toBe(first[0]);
    // A new revision (a rotation, a re-enable) is a new state: its secrets are decrypted anew.
    expect(signingKeys(endpoint(3, [{ secret: current, expiresAt: null }]), keys, now)[0]).not.toBe(first[0]);
  });

  it('leaves out a secret past its grace period, even once cached', () => {
    const e = endpoint(4, [
      { secret: current, expiresAt: null },
      { secret: previous, expiresAt: later },
    ]);
    expect(signingKeys(e, keys, now)).toHaveLength(2);
    expect(signingKeys(e, keys, new Date(Date.parse(later) + 1))).toHaveLength(1);
  });
});
