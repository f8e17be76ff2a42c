// routeBatch with in-memory ports: what it asks of the directory per batch.
import { type ControllerState, instructionRef } from '@massivesms/contracts';
import type { IncomingRecord, OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import { describe, expect, it } from 'vitest';
import type { ControllerDirectory, RouterTx } from '../src/application/ports.ts';
import { routeBatch } from '../src/application/route-batch.ts';
import { instructionDoc, request } from './harness.ts';

function controller(id: string): ControllerState {
  const sha = 'a'.repeat(64);
  return {
    controllerId: id,
    name: id,
    region: 'us',
    revision: 1,
    keys: { dataKey: 'unused', pseudonymKey: 'unused' },
    instruction: {
      id: `${id}-sms`,
      version: 1,
      sha256: sha,
      ref: instructionRef(`${id}-sms`, 1, sha),
      publishedAt: '2026-01-01T00:00:00.000Z',
      document: instructionDoc,
    },
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

function records(values: object[]): IncomingRecord[] {
  return values.map((value, i) => ({
    topic: 'us.sms.requested.v1',
    partition: 0,
    offset: String(i),
    key: null,
    value: Buffer.from(JSON.stringify(value)),
    headers: {},
    timestamp: '0',
  }));
}

describe('routeBatch', () => {
  it("asks the directory for a controller's keys once per batch, however many of its requests it holds", async () => {
    const keyring = new Keyring({
      kms: new LocalKms(generateMasterKey()),
      store: new InMemoryControllerKeyStore(),
    });
    for (const id of ['acme', 'globex']) await keyring.create(toControllerId(id));
    const asked: string[] = [];
    const directory: ControllerDirectory = {
      get: (id) => (id === 'acme' || id === 'globex' ? controller(id) : undefined),
      keys: (id): Promise<ControllerKeys> => {
        asked.push(id);
        return keyring.get(toControllerId(id));
      },
    };
    const announced: OutgoingRecord[] = [];
    const tx: RouterTx = {
      activeSuppressions: async () => new Map(),
      claim: async (claims) => new Set(claims.map((c) => `${c.controllerId}:${c.messageId}`)),
      announce: async (out) => {
        announced.push(...out);
      },
    };
    const batch = records([
      ...Array.from({ length: 5 }, () => request({ controllerId: 'acme' })),
      ...Array.from({ length: 3 }, () => request({ controllerId: 'globex' })),
    ]);

    const outcome = await routeBatch(
      {
        cell: 'us',
        namespace: '',
        directory,
        store: (fn) => fn(tx),
        now: () => new Date('2026-03-01T12:00:00Z'),
        maxSegments: 10,
      },
      batch,
    );

    expect(outcome.dispatched).toBe(8);
    expect(asked.sort()).toEqual(['acme', 'globex']);
    expect(announced.filter((r) => r.topic === 'us.sms.dispatch.v1')).toHaveLength(8);
  });
});
