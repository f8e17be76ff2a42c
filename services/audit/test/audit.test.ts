import {
  type AuditCheckpoint,
  auditCheckpointSchema,
  decodeJsonOrThrow,
  encodeJson,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { deadLetterTopics, KafkaBus, listDeadLetters } from '@massivesms/kafka';
import { verifyNote } from '@massivesms/ledger';
import type { IncomingRecord } from '@massivesms/messaging';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  testLogDestination,
} from '@massivesms/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../src/adapters/pg-ledger.ts';
import { type Audit, startAudit } from '../src/audit.ts';

const event = (n: number): ProcessingEvent => ({
  eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
  occurredAt: new Date(Date.UTC(2026, 11, 3, 12, 0, n % 60)).toISOString(),
  service: 'router',
  operation: 'route',
  controllerId: 'acme',
  messageId: `m-${n}`,
  subjectPseudonym: `ps_${n}`,
  dataCategories: ['user.contact.phone_number'],
  region: 'us',
  outcome: 'performed',
});

// The audit service on real Kafka and PostgreSQL: the cell's processing events reach the ledger
// once each, across a restart; a record that is no processing event is dead-lettered, not stalled on.
describe('audit service (real Kafka and PostgreSQL)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let db: Db;
  let bus: KafkaBus;
  let audit: Audit;
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, topics.namespace);
  const start = () =>
    startAudit({
      cell: 'us',
      bus,
      db,
      log: createLogger({ service: 'audit', level: 'error', destination: testLogDestination }),
      registry: new Registry(),
      kms,
      checkpointEntries: 3,
      checkpointIntervalMs: 400,
      namespace: topics.namespace,
    });
  const kms = new LocalKms(generateMasterKey());
  /** Everything on the checkpoints topic, in order. */
  const publishedCheckpoints = async (): Promise<AuditCheckpoint[]> => {
    const records: IncomingRecord[] = [];
    const reader = await bus.readFromStart({
      topics: [topic('audit.checkpoints.v1')],
      onRecords: (batch) => {
        records.push(...batch);
      },
    });
    await reader.caughtUp;
    await reader.stop();
    return records.map((r) => decodeJsonOrThrow(auditCheckpointSchema, r.value));
  };
  const produce = (values: readonly (ProcessingEvent | string)[]) =>
    bus.producer().send(
      values.map((v) => ({
        topic: topic('audit.processing.v1'),
        key: 'acme',
        value: typeof v === 'string' ? v : encodeJson(processingEventSchema, v),
      })),
    );
  const size = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_ledger')).rows[0]!.n);

  beforeAll(async () => {
    topics = createTestTopics();
    await topics.provisionCell('us', 2);
    schema = await createTestSchema('audit');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    bus = new KafkaBus({ brokers: topics.brokers, clientId: 'audit-test', log: testKafkaLog });
    audit = await start();
  });
  afterAll(async () => {
    await audit?.stop();
    await bus?.close();
    await db?.close();
    await schema?.drop();
    await topics?.cleanup();
  });

  it('appends every event once, republished copies included, and dead-letters what is no event', async () => {
    await produce([event(1), event(2), event(1), 'not a processing event', event(3)]);
    await eventually(30_000, async () => expect(await size()).toBe(3));
    expect(await verifyLedger(db, { head: { seq: 3 } })).toMatchObject({ ok: true, count: 3 });
    await eventually(10_000, async () =>
      expect(await listDeadLetters(bus, deadLetterTopics('us', topics.namespace))).toEqual([
        expect.objectContaining({
          code: 'CONTRACT_UNDECODABLE',
          source: expect.objectContaining({ topic: topic('audit.processing.v1') }),
        }),
      ]),
    );
  });

  it('continues the same chain after a restart, with no gap and no duplicate', async () => {
    await audit.stop();
    await produce([event(3), event(4), event(5)]);
    audit = await start();
    await eventually(30_000, async () => expect(await size()).toBe(5));
    expect(await verifyLedger(db, { head: { seq: 5 } })).toMatchObject({ ok: true, count: 5, lastSeq: 5 });
  });

  it('signs checkpoints (every 3 entries, and 400 ms after the last one) and publishes each, verifiable with the published key', async () => {
    await produce([6, 7, 8, 9, 10, 11, 12].map(event));
    await eventually(30_000, async () => expect(await size()).toBe(12));
    // The 12th entry is covered by the size trigger or, at the latest, by the timer.
    await eventually(10_000, async () =>
      expect((await db.query('SELECT 1 FROM audit_checkpoints WHERE tree_size = 12')).rows).toHaveLength(1),
    );
    await audit.published();
    const published = await publishedCheckpoints();
    expect(published.length).toBeGreaterThanOrEqual(2);
    const sizes = published.map((c) => c.treeSize);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(new Set(sizes).size).toBe(sizes.length);
    expect(sizes.at(-1)).toBe(12);
    for (const c of published) {
      expect(c.verifierKey).toBe(audit.verifierKey);
      const signed = verifyNote(c.note, [audit.verifierKey], { origin: 'audit.massivesms.example/us' });
      expect(signed.size).toBe(c.treeSize);
      expect(Buffer.from(signed.rootHash).toString('base64')).toBe(c.rootHash);
    }
    const verified = await verifyLedger(db, { keys: [audit.verifierKey] });
    expect(verified).toMatchObject({ ok: true, count: 12, lastCheckpoint: 12, signaturesChecked: true });
    expect(verified.ok && verified.checkpoints).toBe(published.length);
    // A key the ledger was not signed with is refused, naming the first checkpoint.
    const stranger = await new LocalKms(generateMasterKey()).signingKey(
      'audit-checkpoints/audit.massivesms.example/us',
    );
    const { checkpointSigner } = await import('../src/adapters/pg-tree.ts');
    const wrongKey = checkpointSigner('audit.massivesms.example/us', stranger).verifierKey;
    expect(await verifyLedger(db, { keys: [wrongKey] })).toMatchObject({
      ok: false,
      seq: sizes[0],
      reason: 'checkpoint_signature',
    });
  });
});
