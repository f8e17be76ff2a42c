import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
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
import { KafkaBus } from '@massivesms/kafka';
import { verifyNote } from '@massivesms/ledger';
import type { IncomingRecord } from '@massivesms/messaging';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
} from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { verifyLedger } from '../src/adapters/pg-ledger.ts';
import { auditCheckpointSigner, defaultAuditOrigin } from '../src/audit.ts';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const CONTROLLERS = ['acme', 'beta', 'gamma', 'delta', 'omega', 'zeta'];
/** Distinct events per burst: before the kill, around it (in chunks), after it. */
const BURSTS = [1_200, 1_200, 600] as const;
const DISTINCT = BURSTS[0] + BURSTS[1] + BURSTS[2];
/** Republished copies (same event, same id) in each burst. */
const COPIES_PER_BURST = 100;
const KILL_AT = BURSTS[0] + 300;

const event = (n: number): ProcessingEvent => ({
  eventId: randomUUID(),
  occurredAt: new Date().toISOString(),
  service: 'router',
  operation: 'route',
  controllerId: CONTROLLERS[n % CONTROLLERS.length]!,
  messageId: `m-${n}`,
  subjectPseudonym: `ps_${n}`,
  dataCategories: ['user.contact.phone_number'],
  region: 'us',
  outcome: 'performed',
});

/** The real `massivesms audit` process, its output kept to print only when the test fails. */
interface AuditProcess {
  readonly child: ChildProcess;
  /** The ops server's URL, from the start-up log line. */
  readonly ops: Promise<string>;
  readonly exit: Promise<[number | null, NodeJS.Signals | null]>;
}

// SIGKILL the real `massivesms audit` process (no shutdown: a batch may be appended with its offsets
// uncommitted, a checkpoint stored but not published) in the middle of a stream of processing
// events with republished copies, start it again: the ledger holds every event exactly once, gap-free
// and verifiable, and the published checkpoints are increasing, signed and cover the whole ledger.
describe('audit: SIGKILL mid-stream, restart (real process, Kafka and PostgreSQL)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let db: Db;
  let bus: KafkaBus;
  const masterKey = generateMasterKey();
  const logs: string[] = [];
  const processes: AuditProcess[] = [];
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, topics.namespace);

  const startAudit = (): AuditProcess => {
    const child = spawn(process.execPath, [cli, 'audit'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: '0',
        // info: the start-up line names the ops URL (and the verifier key).
        LOG_LEVEL: 'info',
        KMS_MASTER_KEY: masterKey,
        TOPIC_NAMESPACE: topics.namespace,
        // The killed member's partitions move after 6 s (the broker's minimum), not 30 s.
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        AUDIT_CHECKPOINT_ENTRIES: '250',
        AUDIT_CHECKPOINT_INTERVAL_MS: '300',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let resolveOps: (url: string) => void = () => {};
    const ops = new Promise<string>((resolve) => {
      resolveOps = resolve;
    });
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      logs.push(`[audit ${child.pid}] ${chunk.toString()}`);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const parsed = (() => {
          try {
            return JSON.parse(line) as { msg?: string; ops?: string };
          } catch {
            return undefined;
          }
        })();
        if (parsed?.msg === 'audit appending' && parsed.ops) resolveOps(parsed.ops);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => logs.push(`[audit ${child.pid} stderr] ${chunk.toString()}`));
    const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const started = { child, ops, exit };
    processes.push(started);
    return started;
  };
  const awaitReady = async (p: AuditProcess) => {
    const ops = await Promise.race([
      p.ops,
      p.exit.then(([code]) => Promise.reject(new Error(`audit exited (${code}) before it was ready`))),
    ]);
    await eventually(30_000, async () =>
      expect((await fetch(`${ops}/readyz`).catch(() => undefined))?.status).toBe(200),
    );
    return ops;
  };

  const produce = (events: readonly ProcessingEvent[]) =>
    bus.producer().send(
      events.map((e) => ({
        topic: topic('audit.processing.v1'),
        key: e.controllerId,
        value: encodeJson(processingEventSchema, e),
      })),
    );
  /** `count` fresh events, plus COPIES_PER_BURST republished copies of `earlier` ones and of these, shuffled in. */
  const burst = (count: number, earlier: readonly ProcessingEvent[], from: number) => {
    const fresh = Array.from({ length: count }, (_, i) => event(from + i));
    const pool = [...earlier, ...fresh];
    const copies = Array.from({ length: COPIES_PER_BURST }, (_, i) => pool[(i * 7919) % pool.length]!);
    const mixed = [...fresh];
    for (const copy of copies) {
      const after = mixed.indexOf(copy) + 1; // 0 for an event of an earlier burst
      mixed.splice(after + Math.floor(Math.random() * (mixed.length - after + 1)), 0, copy);
    }
    return { fresh, mixed };
  };
  const ledgerSize = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_ledger')).rows[0]!.n);
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

  beforeAll(async () => {
    topics = createTestTopics();
    await topics.provisionCell('us', 3);
    schema = await createTestSchema('audit-sigkill');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    bus = new KafkaBus({ brokers: topics.brokers, clientId: 'audit-sigkill-test', log: testKafkaLog });
  });
  afterAll(async () => {
    for (const p of processes)
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exit;
      }
    await bus?.close();
    await db?.close();
    await schema?.drop();
    await topics?.cleanup();
  });

  it('appends every event exactly once, gap-free and verifiable, and publishes every signed checkpoint in order', async () => {
    onTestFailed(() => console.log(logs.join('')));
    const verifierKey = (await auditCheckpointSigner(new LocalKms(masterKey), defaultAuditOrigin('us')))
      .verifierKey;
    const distinct: ProcessingEvent[] = [];

    const first = startAudit();
    await awaitReady(first);
    const a = burst(BURSTS[0], distinct, 0);
    distinct.push(...a.fresh);
    await produce(a.mixed);
    await eventually(30_000, async () => expect(await ledgerSize()).toBeGreaterThan(0));

    // The second burst goes out in chunks while the ledger grows; the kill lands in its middle.
    const b = burst(BURSTS[1], distinct, BURSTS[0]);
    distinct.push(...b.fresh);
    const producingB = (async () => {
      for (let i = 0; i < b.mixed.length; i += 100) {
        await produce(b.mixed.slice(i, i + 100));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await eventually(30_000, async () => expect(await ledgerSize()).toBeGreaterThanOrEqual(KILL_AT));
    first.child.kill('SIGKILL');
    expect((await first.exit)[1]).toBe('SIGKILL');
    await producingB;
    const c = burst(BURSTS[2], distinct, BURSTS[0] + BURSTS[1]);
    distinct.push(...c.fresh);
    await produce(c.mixed);
    // Killed mid-stream: some entries, not all (what the restart appends is counted against this).
    const atRestart = await ledgerSize();
    expect(atRestart).toBeGreaterThanOrEqual(KILL_AT);
    expect(atRestart).toBeLessThan(DISTINCT);

    const second = startAudit();
    const ops = await awaitReady(second);
    await eventually(45_000, async () => expect(await ledgerSize()).toBe(DISTINCT));
    // Only what was missing is appended after the restart: the replayed batch and the copies are not.
    await eventually(10_000, async () => {
      const metrics = await (await fetch(`${ops}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(`^audit_events_appended_total(\\{[^}]*\\})? ${DISTINCT - atRestart}$`, 'm'),
      );
    });
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual([0, null]);

    // The ledger: seq 1…N without a gap, each produced event once, nothing else.
    const { rows: shape } = await db.query<{ n: string; lo: string; hi: string; ids: string }>(
      'SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi, count(DISTINCT event_id) AS ids FROM audit_ledger',
    );
    expect(shape[0]).toEqual({ n: `${DISTINCT}`, lo: '1', hi: `${DISTINCT}`, ids: `${DISTINCT}` });
    const { rows: ids } = await db.query<{ event_id: string }>('SELECT event_id FROM audit_ledger');
    expect(new Set(ids.map((r) => r.event_id))).toEqual(new Set(distinct.map((e) => e.eventId)));

    // Chain, tree and every stored checkpoint (root recomputed, signature checked with the key).
    const { rows: stored } = await db.query<{ tree_size: string; note: string }>(
      'SELECT tree_size, note FROM audit_checkpoints ORDER BY tree_size',
    );
    const verified = await verifyLedger(db, { keys: [verifierKey] });
    expect(verified).toMatchObject({
      ok: true,
      count: DISTINCT,
      lastSeq: DISTINCT,
      lastCheckpoint: DISTINCT,
      checkpoints: stored.length,
      signaturesChecked: true,
    });
    expect((await db.query('SELECT 1 FROM audit_outbox')).rows).toEqual([]);

    // The topic: the relay publishes at least once, so a kill between the broker's ack and the
    // outbox commit repeats a checkpoint; such a copy is the same record. Apart from those copies,
    // tree sizes only grow, each checkpoint verifies, and together they are exactly the stored ones.
    const published = await publishedCheckpoints();
    const unique = published.filter(
      (cp, i) => i === 0 || JSON.stringify(cp) !== JSON.stringify(published[i - 1]),
    );
    const sizes = unique.map((cp) => cp.treeSize);
    for (const [i, size] of sizes.entries()) if (i > 0) expect(size).toBeGreaterThan(sizes[i - 1]!);
    expect(unique.map((cp) => [cp.treeSize, cp.note])).toEqual(
      stored.map((r) => [Number(r.tree_size), r.note]),
    );
    expect(sizes.at(-1)).toBe(DISTINCT);
    for (const cp of unique) {
      expect(cp.verifierKey).toBe(verifierKey);
      const signed = verifyNote(cp.note, [verifierKey], { origin: defaultAuditOrigin('us') });
      expect(signed.size).toBe(cp.treeSize);
      expect(Buffer.from(signed.rootHash).toString('base64')).toBe(cp.rootHash);
    }
  }, 60_000);
});
