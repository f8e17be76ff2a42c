export { MemoryBus, type TopicOptions, UnknownTopicError } from './memory-bus.ts';
