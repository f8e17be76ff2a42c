import './provided-context.ts';

export * from './carriers/index.ts';
export { eventually } from './eventually.ts';
export { freePort } from './free-port.ts';
export * from './invariants/index.ts';
export { type PrivateKafka, startPrivateKafka } from './private-kafka.ts';
export { createTestDatabase, createTestSchema, type TestSchema } from './test-database.ts';
export { createTestTopics, type TestTopics } from './test-kafka.ts';
export { takeTestLogs, testKafkaLog, testLogDestination } from './test-logs.ts';
