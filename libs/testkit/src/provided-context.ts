// Values the global setup hands to every test file through vitest's `provide`/`inject`.
declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL URL of the test database (each file makes its own schema in it). */
    databaseUrl: string;
    /** Comma-separated bootstrap brokers of the run's Kafka. */
    kafkaBrokers: string;
  }
}

export {};
