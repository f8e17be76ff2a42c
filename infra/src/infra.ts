import { cells, cellTopics } from '@massivesms/contracts';
import { ensureTopics } from '@massivesms/kafka';
import { ensureKafka, stopKafka } from './kafka.ts';
import { ensureDatabase, ensurePostgres, stopThrowawayCluster, throwawayDir } from './postgres.ts';
import type { InfraSettings } from './settings.ts';

export interface Infra {
  readonly kafkaBrokers: string;
  readonly kafkaVersion: string;
  readonly databaseUrl: string;
  readonly postgresVersion: string;
  readonly postgresSource: string;
  /** What this call started (and what `infraDown` would stop). */
  readonly started: { kafka: boolean; postgres: boolean };
}

/** Brings up Kafka and PostgreSQL (idempotent) and ensures `database` exists. */
export async function infraUp(settings: InfraSettings, database = 'massivesms'): Promise<Infra> {
  const external = settings.externalKafkaBrokers;
  const [kafka, postgres] = await Promise.all([
    external
      ? Promise.resolve({ brokers: external.join(','), version: 'unknown (KAFKA_BROKERS)', started: false })
      : ensureKafka(settings),
    ensurePostgres(settings),
  ]);
  const databaseUrl =
    postgres.source === 'DATABASE_URL'
      ? postgres.serverUrl
      : await ensureDatabase(postgres.serverUrl, database);
  return {
    kafkaBrokers: kafka.brokers,
    kafkaVersion: kafka.version,
    databaseUrl,
    postgresVersion: postgres.version,
    postgresSource: postgres.source,
    started: { kafka: kafka.started, postgres: postgres.started },
  };
}

/** Creates every declared topic of both cells (idempotent). */
export async function provisionTopics(brokers: string, namespace = '') {
  return ensureTopics(
    brokers.split(','),
    cells.flatMap((cell) => cellTopics(cell, { namespace })),
  );
}

/** Stops what infraUp started in this repository (broker and throwaway cluster). */
export async function infraDown(settings: InfraSettings): Promise<{ kafka: boolean; postgres: boolean }> {
  const [kafka, postgres] = await Promise.all([
    stopKafka(settings),
    stopThrowawayCluster(throwawayDir(settings)),
  ]);
  return { kafka, postgres };
}
