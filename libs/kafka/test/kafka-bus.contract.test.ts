import { messagingContract } from '@massivesms/messaging/contract-suite';
import { createTestTopics, testKafkaLog } from '@massivesms/testkit';
import { KafkaBus } from '../src/index.ts';

messagingContract('Kafka adapter (real broker)', async () => {
  const topics = createTestTopics();
  const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'contract-test', log: testKafkaLog });
  let n = 0;
  return {
    bus,
    patienceMs: 30_000,
    createTopic: (partitions) => topics.createTopic(`contract-${++n}`, partitions),
    async teardown() {
      await bus.close();
      await topics.cleanup();
    },
  };
});
