import { CompressionTypes, type Producer, type ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaBus } from '../src/index.ts';

/** A bus whose kafkajs producer records what it was asked to send, with no broker behind it. */
function busRecordingSends(options: { compression?: 'gzip' | 'none' }) {
  const sent: ProducerBatch[] = [];
  const bus = new KafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'compression-test', ...options });
  bus.kafka.producer = () =>
    ({
      connect: async () => {},
      disconnect: async () => {},
      sendBatch: async (batch: ProducerBatch) => {
        sent.push(batch);
        return [];
      },
    }) as unknown as Producer;
  return { bus, sent };
}

describe('KafkaBus compression', () => {
  it.each([
    ['sends records uncompressed by default', {}, CompressionTypes.None],
    ['sends them gzipped when asked', { compression: 'gzip' as const }, CompressionTypes.GZIP],
    ['sends them uncompressed when asked', { compression: 'none' as const }, CompressionTypes.None],
  ])('%s', async (_, options, expected) => {
    const { bus, sent } = busRecordingSends(options);
    await bus.producer().send([{ topic: 't', key: 'k', value: 'v' }]);
    expect(sent.map((b) => b.compression)).toEqual([expected]);
    await bus.close();
  });
});
