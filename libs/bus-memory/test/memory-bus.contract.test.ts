import { messagingContract } from '@massivesms/messaging/contract-suite';
import { MemoryBus } from '../src/index.ts';

messagingContract('in-memory bus', async () => {
  const bus = new MemoryBus();
  let n = 0;
  return {
    bus,
    patienceMs: 2_000,
    async createTopic(partitions) {
      const name = `topic-${++n}`;
      bus.createTopic(name, partitions);
      return name;
    },
    teardown: () => bus.close(),
  };
});
