// Consumer lag from the Kafka admin API: per group, its committed offsets; per topic, its high
// watermarks. One admin connection, opened at the first read; two requests per group and topic per
// read, and bus-metrics reads at most every 10 s, so the cost is bounded whatever the scrape rate.
import type { Admin, Kafka } from 'kafkajs';
import type { LagSource, PartitionLag } from './bus-metrics.ts';

/** A lag source over a kafkajs client (KafkaBus exposes its own as `bus.kafka`). */
export function kafkaLagSource(kafka: Pick<Kafka, 'admin'>): LagSource {
  let admin: Promise<Admin> | undefined;
  let closed = false;
  const connected = () => {
    admin ??= (async () => {
      const a = kafka.admin();
      await a.connect();
      return a;
    })().catch((error: unknown) => {
      admin = undefined; // the next read tries again
      throw error;
    });
    return admin;
  };
  return {
    async lag(groups) {
      if (closed) return [];
      const client = await connected();
      const highs = new Map<string, Map<number, { high: bigint; low: bigint }>>();
      for (const topic of new Set(groups.flatMap((g) => g.topics))) {
        const offsets = await client.fetchTopicOffsets(topic);
        highs.set(
          topic,
          new Map(offsets.map((o) => [o.partition, { high: BigInt(o.high), low: BigInt(o.low) }])),
        );
      }
      const rows: PartitionLag[] = [];
      for (const group of groups) {
        const committed = await client.fetchOffsets({ groupId: group.groupId, topics: [...group.topics] });
        for (const { topic, partitions } of committed) {
          for (const p of partitions) {
            const marks = highs.get(topic)?.get(p.partition);
            if (marks === undefined) continue;
            // -1: nothing committed yet; the group starts from the earliest retained offset.
            const at = BigInt(p.offset) < 0n ? marks.low : BigInt(p.offset);
            const lag = marks.high > at ? marks.high - at : 0n;
            rows.push({ groupId: group.groupId, topic, partition: p.partition, lag: Number(lag) });
          }
        }
      }
      return rows;
    },
    async close() {
      closed = true;
      const a = admin;
      admin = undefined;
      await (await a?.catch(() => undefined))?.disconnect();
    },
  };
}
