import type { TestProject } from 'vitest/node';

// Placeholder until the infrastructure bring-up lands: PostgreSQL from DATABASE_URL or the local default.
export default async function setup(project: TestProject): Promise<void> {
  project.provide('databaseUrl', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  project.provide('kafkaBrokers', process.env.KAFKA_BROKERS ?? '127.0.0.1:19092');
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
  }
}
