// What `massivesms deadletter list|replay` does, over Kafka. A replay produces the original record
// again to its source topic, then records that on {cell}.deadletter.replayed.v1 (keyed by the dead
// letter's partition:offset); the next replay reads that topic first and skips what it lists. The
// record goes first: a crash between the two steps makes the next replay produce it once more,
// which the consumers absorb (they are idempotent), whereas the other order could lose it.
import { randomUUID } from 'node:crypto';
import {
  type Cell,
  type DeadLetterReplay,
  deadLetterReplayKey,
  deadLetterReplaySchema,
  decodeJson,
  encodeJson,
  matchesRejectionDigest,
  type Rejection,
  rejectionSchema,
  topicFor,
} from '@massivesms/contracts';
import { type DeadLetter, type IncomingRecord, readDeadLetter, replayRecord } from '@massivesms/messaging';
import type { KafkaBus } from './kafka-bus.ts';

/** A dead letter with when it was replayed, if it was. */
export interface DeadLetterEntry extends DeadLetter {
  /** `partition:offset` on the dead-letter topic: what `replay --offset` takes. */
  readonly id: string;
  readonly replayedAt: string | undefined;
}

/** The dead-letter topics of one cell. */
export interface DeadLetterTopics {
  readonly deadLetters: string;
  readonly replays: string;
}

/** The dead-letter and replay topics of a cell (and test namespace). */
export function deadLetterTopics(cell: Cell, namespace = ''): DeadLetterTopics {
  return {
    deadLetters: topicFor(cell, 'deadletter.v1', namespace),
    replays: topicFor(cell, 'deadletter.replayed.v1', namespace),
  };
}

/** Reads every record of some topics as they stand now (a throwaway reader, nothing committed). */
async function readAll(bus: KafkaBus, topics: readonly string[]): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  const reader = await bus.readFromStart({ topics, onRecords: (r) => void records.push(...r) });
  try {
    await reader.caughtUp;
  } finally {
    await reader.stop();
  }
  return records;
}

/** Every dead letter of the cell, oldest first, each with when it was replayed (if it was). */
export async function listDeadLetters(bus: KafkaBus, topics: DeadLetterTopics): Promise<DeadLetterEntry[]> {
  const records = await readAll(bus, [topics.deadLetters, topics.replays]);
  const replayedAt = new Map<string, string>();
  for (const r of records) {
    if (r.topic !== topics.replays || r.key === null) continue;
    const replay = decodeJson(deadLetterReplaySchema, r.value);
    if (replay.ok) replayedAt.set(r.key, replay.value.replayedAt);
  }
  const entries: DeadLetterEntry[] = [];
  for (const r of records) {
    const dead = r.topic === topics.deadLetters ? readDeadLetter(r) : undefined;
    if (!dead) continue;
    const id = deadLetterReplayKey(dead.partition, dead.offset);
    entries.push({ ...dead, id, replayedAt: replayedAt.get(id) });
  }
  return entries.sort(
    (a, b) =>
      a.at.localeCompare(b.at) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
  );
}

/** What a replay did with each dead letter it was given. */
export interface ReplayOutcome {
  readonly replayed: DeadLetterEntry[];
  /** Replayed before: skipped, so a second replay duplicates nothing. */
  readonly alreadyReplayed: DeadLetterEntry[];
  /** Value omitted from the dead letter and no longer (or not) on the source topic: cannot replay. */
  readonly sourceGone: DeadLetterEntry[];
}

/**
 * Produces the selected dead letters again to their source topics (original key, value and headers,
 * without the `dlq-` headers), then records each replay. Dead letters whose value was omitted get it
 * from the source topic, which must still retain it.
 */
export async function replayDeadLetters(
  bus: KafkaBus,
  topics: DeadLetterTopics,
  selected: readonly DeadLetterEntry[],
  now: () => Date = () => new Date(),
): Promise<ReplayOutcome> {
  const alreadyReplayed = selected.filter((d) => d.replayedAt !== undefined);
  const due = selected.filter((d) => d.replayedAt === undefined);
  const sourceValues = await readSourceValues(
    bus,
    due.filter((d) => !d.valueKept).map((d) => d.source),
  );
  const replayed: DeadLetterEntry[] = [];
  const sourceGone: DeadLetterEntry[] = [];
  const records = [];
  for (const d of due) {
    if (d.valueKept) {
      records.push(replayRecord(d));
    } else {
      const value = sourceValues.get(positionKey(d.source));
      if (value === undefined) {
        sourceGone.push(d);
        continue;
      }
      records.push(replayRecord(d, value));
    }
    replayed.push(d);
  }
  if (records.length > 0) await bus.producer().send(records);
  const at = now().toISOString();
  const marks = replayed.map((d) => {
    const replay: DeadLetterReplay = {
      deadLetter: { topic: topics.deadLetters, partition: d.partition, offset: d.offset },
      source: d.source,
      code: d.code,
      replayedAt: at,
    };
    return { topic: topics.replays, key: d.id, value: encodeJson(deadLetterReplaySchema, replay) };
  });
  if (marks.length > 0) await bus.producer().send(marks);
  return {
    replayed: replayed.map((d) => ({ ...d, replayedAt: at })),
    alreadyReplayed,
    sourceGone,
  };
}

/** A rejection on `{cell}.sms.rejected.v1`, with its id there (`partition:offset`). */
export interface RejectionEntry {
  readonly id: string;
  readonly rejection: Rejection;
}

/** Every rejection of the cell, oldest first. */
export async function listRejections(bus: KafkaBus, cell: Cell, namespace = ''): Promise<RejectionEntry[]> {
  const records = await readAll(bus, [topicFor(cell, 'sms.rejected.v1', namespace)]);
  return records.flatMap((r) => {
    const decoded = decodeJson(rejectionSchema, r.value);
    return decoded.ok ? [{ id: deadLetterReplayKey(r.partition, r.offset), rejection: decoded.value }] : [];
  });
}

/** What a replay of rejections did with each. */
export interface RejectionReplayOutcome {
  readonly replayed: RejectionEntry[];
  /** The source no longer holds the record (retention), or holds another one than the digest names. */
  readonly sourceGone: RejectionEntry[];
  /** Another region's record: it belongs to that cell, never to be routed here. */
  readonly refused: RejectionEntry[];
}

/**
 * Produces the records of these rejections again to their source topic, read back at the source
 * position (a rejection keeps no plaintext) and checked against the rejection's digest. The router
 * claims each request once per (controller, message id), so a request routed meanwhile is not routed
 * twice; a record still at fault is rejected again.
 */
export async function replayRejections(
  bus: KafkaBus,
  selected: readonly RejectionEntry[],
): Promise<RejectionReplayOutcome> {
  const refused = selected.filter((e) => e.rejection.code === 'SMS_WRONG_REGION');
  const due = selected.filter((e) => e.rejection.code !== 'SMS_WRONG_REGION');
  const values = await readSourceValues(
    bus,
    due.map((e) => e.rejection.source),
  );
  const replayed: RejectionEntry[] = [];
  const sourceGone: RejectionEntry[] = [];
  const records = [];
  for (const e of due) {
    const value = values.get(positionKey(e.rejection.source));
    const digest = e.rejection.digest;
    if (!value || !digest || !matchesRejectionDigest(value, digest)) {
      sourceGone.push(e);
      continue;
    }
    records.push({ topic: e.rejection.source.topic, key: null, value });
    replayed.push(e);
  }
  if (records.length > 0) await bus.producer().send(records);
  return { replayed, sourceGone, refused };
}

interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

const positionKey = (p: Position) => `${p.topic}:${p.partition}:${p.offset}`;

/**
 * Reads the values at these positions of their source topics: a throwaway group whose offsets are
 * set to the first wanted offset of each partition, read until the last one. Positions that retention
 * already removed are left out of the result.
 */
async function readSourceValues(
  bus: KafkaBus,
  positions: readonly Position[],
  timeoutMs = 30_000,
): Promise<Map<string, Buffer | null>> {
  const found = new Map<string, Buffer | null>();
  if (positions.length === 0) return found;
  /** Per `topic:partition`: the wanted offsets still on the log. */
  const wanted = new Map<string, { topic: string; partition: number; offsets: Set<string>; last: bigint }>();
  const groupId = `massivesms.deadletter-replay.${randomUUID()}`;
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    for (const topic of new Set(positions.map((p) => p.topic))) {
      const bounds = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p]));
      for (const p of positions.filter((x) => x.topic === topic)) {
        const b = bounds.get(p.partition);
        const offset = BigInt(p.offset);
        if (!b || offset < BigInt(b.low) || offset >= BigInt(b.high)) continue; // retention removed it
        const key = `${topic}:${p.partition}`;
        const entry = wanted.get(key) ?? { topic, partition: p.partition, offsets: new Set(), last: -1n };
        entry.offsets.add(p.offset);
        if (offset > entry.last) entry.last = offset;
        wanted.set(key, entry);
      }
      const first = [...wanted.values()]
        .filter((w) => w.topic === topic)
        .map((w) => ({
          partition: w.partition,
          offset: [...w.offsets].reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b)),
        }));
      if (first.length > 0) await admin.setOffsets({ groupId, topic, partitions: first });
    }
    if (wanted.size === 0) return found;
    const consumer = bus.kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
    const done = Promise.withResolvers<void>();
    const pending = new Set(wanted.keys());
    const timer = setTimeout(() => done.resolve(), timeoutMs);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...new Set([...wanted.values()].map((w) => w.topic))] });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const key = `${batch.topic}:${batch.partition}`;
          const w = wanted.get(key);
          if (!w || !pending.has(key)) return;
          for (const m of batch.messages) {
            if (w.offsets.has(m.offset)) found.set(positionKey({ ...w, offset: m.offset }), m.value);
            if (BigInt(m.offset) >= w.last) pending.delete(key);
          }
          if (pending.size === 0) done.resolve();
        },
      });
      await done.promise;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
    return found;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
}
