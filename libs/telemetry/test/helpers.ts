import { createLogger, createMemoryDestination, type LogLevel } from '../src/index.ts';

/** A logger writing into memory, as every test here needs. */
export function capture(level: LogLevel = 'debug') {
  const destination = createMemoryDestination();
  const logger = createLogger({ service: 'test-service', level, destination });
  return { logger, destination };
}

export const PHONE = '+14155550123';
export const SPACED_PHONE = '+1 415-555-0123';
export const EMAIL = 'jane.doe+sms@example.co.uk';
