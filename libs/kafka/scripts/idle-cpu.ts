// `node libs/kafka/scripts/idle-cpu.ts`: CPU an idle KafkaBus burns (issue 12: under 1 % of a core).
// One group consumer on 12 partitions, one reader and a connected producer, no traffic; CPU from
// /proc/self/stat over IDLE_SECONDS (default 30) after a 3 s settle. KAFKA_BROKERS as everywhere.
import { readFileSync } from 'node:fs';
import { deleteTopics, ensureTopics, KafkaBus } from '../src/index.ts';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const seconds = Number(process.env.IDLE_SECONDS ?? 30);
const namespace = `idle${process.pid}`;
const spec = (name: string, partitions: number) => ({
  name,
  fullName: `${namespace}.${name}`,
  partitions,
  cleanupPolicy: 'delete' as const,
  retentionMs: 3_600_000,
  personalData: false,
  description: 'idle CPU measurement',
});
const topics = [spec('in', 12), spec('state', 3)];
await ensureTopics(brokers, topics);
const bus = new KafkaBus({ brokers, clientId: 'idle-cpu' });
await bus.producer().send([{ topic: topics[0]!.fullName, key: 'k', value: 'x' }]);
const consumer = await bus.consume({
  groupId: `${namespace}.group`,
  topics: [topics[0]!.fullName],
  deadLetterTopic: topics[0]!.fullName,
  decode: (record) => record,
  handleBatch: async () => {},
});
const reader = await bus.readFromStart({ topics: [topics[1]!.fullName], onRecords: () => {} });
await reader.caughtUp;

/** utime + stime of this process, in clock ticks (100 per second on Linux). */
const ticks = () => {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
await new Promise((r) => setTimeout(r, 3_000));
const [t0, w0] = [ticks(), performance.now()];
await new Promise((r) => setTimeout(r, seconds * 1_000));
const [t1, w1] = [ticks(), performance.now()];
const percent = ((t1 - t0) / 100 / ((w1 - w0) / 1_000)) * 100;
console.log(
  `idle KafkaBus: ${percent.toFixed(2)} % of a core over ${seconds} s` +
    ` (consuming: ${consumer.consuming()}, reader: ${reader.consuming()})`,
);
await bus.close();
await deleteTopics(
  brokers,
  topics.map((t) => t.fullName),
);
