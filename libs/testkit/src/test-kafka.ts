import { randomBytes } from 'node:crypto';
import { type Cell, cellTopics } from '@massivesms/contracts';
import { deleteTopics, ensureTopics } from '@massivesms/kafka';
import { inject } from 'vitest';

/** Topics owned by one test file: a unique namespace on the run's broker. */
export interface TestTopics {
  readonly brokers: string[];
  /** Prefix of every topic this file creates, e.g. `t3f9a1c2`. */
  readonly namespace: string;
  /** Creates the declared topics of a cell under the namespace (few partitions: tests stay quick). */
  provisionCell(cell: Cell, partitions?: number): Promise<void>;
  /** Creates an ad-hoc topic under the namespace and returns its full name. */
  createTopic(name: string, partitions: number): Promise<string>;
  /** Deletes every topic created through this object. */
  cleanup(): Promise<void>;
}

/** Gives the calling test file its own topic namespace on the real broker (or on `brokers`: a private one). */
export function createTestTopics(options: { brokers?: readonly string[] } = {}): TestTopics {
  const brokers = options.brokers ? [...options.brokers] : inject('kafkaBrokers').split(',');
  const namespace = `t${randomBytes(4).toString('hex')}`;
  const created: string[] = [];
  return {
    brokers,
    namespace,
    async provisionCell(cell, partitions = 3) {
      const topics = cellTopics(cell, { namespace, partitions });
      await ensureTopics(brokers, topics);
      created.push(...topics.map((t) => t.fullName));
    },
    async createTopic(name, partitions) {
      const fullName = `${namespace}.${name}`;
      await ensureTopics(brokers, [
        {
          name,
          fullName,
          partitions,
          cleanupPolicy: 'delete',
          retentionMs: 3_600_000,
          personalData: false,
          description: 'test',
        },
      ]);
      created.push(fullName);
      return fullName;
    },
    async cleanup() {
      await deleteTopics(brokers, created.splice(0));
    },
  };
}
