export * from './codec.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './headers.ts';
export * from './json-schema.ts';
export * from './sms.ts';
export * from './state.ts';
export * from './topics.ts';
