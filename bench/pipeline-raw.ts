// The raw limits a pipeline run is compared with, measured in the same run on the same machine:
// an undici POST loop of signed webhooks to the same receiver, and a kafkajs consume→produce loop
// (what the router does, minus the work: same batches, gzip, acks=all, a commit per batch).
import { createHmac } from 'node:crypto';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { Pool } from 'undici';

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Signed (Standard Webhooks) POSTs of `body` to `url` for `seconds`, `concurrency` in flight. */
export async function rawUndiciPostLoop(options: {
  url: string;
  secret: string;
  body: string;
  seconds: number;
  concurrency: number;
}) {
  const { url, secret, body, seconds, concurrency } = options;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency });
  let sent = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const webhookId = `msg_raw${sent++}`;
        const timestamp = Math.floor(Date.now() / 1000);
        const signature = createHmac('sha256', key)
          .update(`${webhookId}.${timestamp}.${body}`)
          .digest('base64');
        const t = performance.now();
        try {
          const response = await pool.request({
            method: 'POST',
            path: target.pathname,
            headers: {
              'content-type': 'application/json',
              'webhook-id': webhookId,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': `v1,${signature}`,
              'user-agent': 'MassiveSMS-Webhooks/1',
            },
            body,
          });
          await response.body.dump();
          if (response.statusCode >= 200 && response.statusCode < 300) ok++;
          else non2xx++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    seconds: Number(elapsed.toFixed(2)),
    concurrency,
    bodyBytes: Buffer.byteLength(body),
    requests: ok + non2xx + errors,
    ok,
    non2xx,
    errors,
    requestsPerSecond: Math.round(ok / elapsed),
    p50Ms: Number(percentile(latencies, 50)?.toFixed(1)),
    p99Ms: Number(percentile(latencies, 99)?.toFixed(1)),
  };
}

/**
 * Forwards every record of `from` (`total` of them, read from the beginning by a fresh group) to
 * `to` unchanged: one gzip batch per partition batch, acks=all, offsets committed after each.
 */
export async function rawKafkaForwardLoop(options: {
  brokers: readonly string[];
  from: string;
  to: string;
  total: number;
  groupId: string;
  timeoutMs?: number;
}) {
  const kafka = new Kafka({
    clientId: 'bench-raw-forward',
    brokers: [...options.brokers],
    logLevel: logLevel.ERROR,
  });
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: options.groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.from], fromBeginning: true });
  let forwarded = 0;
  let first = 0;
  let last = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        if (first === 0) first = performance.now();
        await producer.send({
          topic: options.to,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: batch.messages.map((m) => ({ key: m.key, value: m.value })),
        });
        await consumer.commitOffsets([
          {
            topic: batch.topic,
            partition: batch.partition,
            offset: (BigInt(batch.lastOffset()) + 1n).toString(),
          },
        ]);
        forwarded += batch.messages.length;
        last = performance.now();
        if (forwarded >= options.total) resolve();
      },
    });
  });
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(resolve, options.timeoutMs ?? 120_000, 'timeout').unref(),
  );
  const outcome = await Promise.race([done, timeout]);
  await consumer.disconnect();
  await producer.disconnect();
  return {
    records: forwarded,
    complete: outcome !== 'timeout',
    seconds: Number(((last - first) / 1000).toFixed(2)),
    recordsPerSecond: Math.round(forwarded / ((last - first) / 1000)),
  };
}
