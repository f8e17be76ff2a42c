export { MemoryBus, UnknownTopicError } from './memory-bus.ts';
