import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type ControllerState,
  controllerStateSchema,
  dispatchRecordSchema,
  encodeJson,
  instructionRef,
} from '@massivesms/contracts';
import {
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, instructionDoc, json, type RouterHarness, request, startHarness } from './harness.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));

// The operator's loop end to end (issue 10): a request dead-lettered because its controller's keys
// cannot be unwrapped, the cause fixed, `massivesms deadletter replay` run as a user would, and the
// request routed — once, however often the replay is run.
describe('massivesms deadletter list|replay (real Kafka and PostgreSQL, the CLI as a process)', () => {
  let h: RouterHarness;
  /** Runs the CLI against the test's broker and topic namespace. */
  const massivesms = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, 'deadletter', ...args], {
        env: {
          PATH: process.env.PATH ?? '',
          KAFKA_BROKERS: h.topics.brokers.join(','),
          TOPIC_NAMESPACE: h.topics.namespace,
        },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const dispatched = (messageId: string) =>
    h.read('sms.dispatch.v1').filter((r) => dispatchRecordSchema.parse(json(r)).messageId === messageId);

  beforeAll(async () => {
    h = await startHarness('us');
    // The controller's keys are wrapped under a master key this cell's KMS does not hold (a
    // rotation that forgot the old key): every unwrap fails until the keys are re-wrapped.
    const foreign = new Keyring({
      kms: new LocalKms(generateMasterKey()),
      store: new InMemoryControllerKeyStore(),
    });
    const wrapped = await foreign.create(toControllerId('rotated'));
    const state: ControllerState = {
      controllerId: 'rotated',
      name: 'rotated',
      region: 'us',
      revision: 1,
      keys: { dataKey: wrapped.dataKey, pseudonymKey: wrapped.pseudonymKey },
      instruction: {
        id: 'rotated-sms',
        version: 1,
        sha256: 'a'.repeat(64),
        ref: instructionRef('rotated-sms', 1, 'a'.repeat(64)),
        publishedAt: new Date().toISOString(),
        document: instructionDoc,
      },
      updatedAt: new Date().toISOString(),
    };
    await h.bus
      .producer()
      .send([
        { topic: h.topic('controllers.v1'), key: 'rotated', value: encodeJson(controllerStateSchema, state) },
      ]);
    await h.startRouter(undefined, {
      routing: { maxAttempts: 2, retryBackoffMs: { initial: 50, max: 100 } },
    });
  });
  afterAll(() => h.close());

  it('lists the dead letter without its value; after the fix a replay routes it, and a second replay adds nothing', async () => {
    await h.send([request({ controllerId: 'rotated', messageId: 'stuck-1' })]);
    await eventually(30_000, () => expect(h.read('deadletter.v1')).toHaveLength(1));

    const listed = await massivesms('list', '--cell', 'us', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const entries = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(entries).toEqual([
      expect.objectContaining({
        code: 'PRIVACY_KEYS_UNAVAILABLE',
        source: expect.objectContaining({ topic: h.topic('sms.requested.v1') }),
        attempts: 2,
        value: 'omitted',
        replayedAt: null,
      }),
    ]);
    const table = await massivesms('list', '--cell', 'us', '--topic', 'sms.requested.v1');
    expect(table.stdout).toContain('PRIVACY_KEYS_UNAVAILABLE');
    expect(table.stdout).toContain(entries[0].id);
    expect(table.stdout + listed.stdout).not.toContain('7400123456');
    expect(dispatched('stuck-1')).toEqual([]);

    // The fix: the control plane re-wraps the keys under this cell's KMS (revision 2).
    await h.publishController({ id: 'rotated', revision: 2 });
    const replay = await massivesms('replay', '--cell', 'us', '--offset', entries[0].id);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`replayed ${entries[0].id} to ${h.topic('sms.requested.v1')}`);
    await eventually(30_000, () => expect(dispatched('stuck-1')).toHaveLength(1));

    const again = await massivesms('replay', '--cell', 'us', '--all', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      replayed: [],
      alreadyReplayed: [entries[0].id],
      sourceGone: [],
    });
    const relisted = await massivesms('list', '--cell', 'us', '--json');
    expect(JSON.parse(relisted.stdout.trim()).replayedAt).toEqual(expect.any(String));
    // The request was produced again exactly once: the original and one replay.
    expect(h.read('sms.requested.v1').filter((r) => r.value?.toString().includes('"stuck-1"'))).toHaveLength(
      2,
    );
  });

  it('replays a rejected request from its source position once its controller exists; the rejection kept no plaintext', async () => {
    await h.send([
      request({ controllerId: 'late-co', messageId: 'early-1', body: 'canary body for late-co' }),
    ]);
    const rejections = async () => {
      const listed = await massivesms(
        'rejected',
        '--cell',
        'us',
        '--code',
        'SMS_UNKNOWN_CONTROLLER',
        '--json',
      );
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).not.toContain('7400123456');
      expect(listed.stdout).not.toContain('canary body');
      return listed.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    };
    let entries: { id: string; messageId: string; sealed: boolean }[] = [];
    await eventually(30_000, async () => {
      entries = (await rejections()).filter((e) => e.messageId === 'early-1');
      expect(entries).toHaveLength(1);
    });
    expect(entries[0]!.sealed).toBe(false); // no key of an unknown controller to seal it with
    for (const r of h.read('sms.rejected.v1')) expect(r.value!.toString()).not.toContain('canary body');

    await h.publishController({ id: 'late-co' });
    const before = h.read('sms.requested.v1').filter((r) => r.value?.toString().includes('"early-1"'));
    expect(before).toHaveLength(1);
    const replay = await massivesms('replay-rejected', '--cell', 'us', '--offset', entries[0]!.id, '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: [entries[0]!.id], sourceGone: [], refused: [] });
    // The record read back at its source position, produced again byte for byte.
    await eventually(30_000, () => {
      const copies = h.read('sms.requested.v1').filter((r) => r.value?.toString().includes('"early-1"'));
      expect(copies).toHaveLength(2);
      expect(copies[1]!.value).toEqual(before[0]!.value);
    });
  });

  it("refuses to replay another region's rejected record", async () => {
    await h.send([request({ messageId: 'eu-stray' })], { region: 'eu' });
    let id = '';
    await eventually(30_000, async () => {
      const listed = await massivesms('rejected', '--cell', 'us', '--code', 'SMS_WRONG_REGION', '--json');
      const found = listed.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
        .find((e) => e.messageId === 'eu-stray');
      expect(found).toBeDefined();
      id = found.id;
    });
    const replay = await massivesms('replay-rejected', '--cell', 'us', '--offset', id);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain(`refused ${id}: another region's record`);
  });

  it('refuses a replay without --offset or --all, and an id that names no dead letter', async () => {
    const neither = await massivesms('replay', '--cell', 'us');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('either --offset');
    const unknown = await massivesms('replay', '--cell', 'us', '--offset', '2:999999');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no dead letter at 2:999999');
  });
});
