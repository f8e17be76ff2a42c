export { type Infra, infraDown, infraUp, provisionTopics } from './infra.ts';
export { ensureKafka, KAFKA_VERSION, stopKafka } from './kafka.ts';
export {
  ensureDatabase,
  ensurePostgres,
  postgresVersion,
  startThrowawayCluster,
  stopThrowawayCluster,
  withDatabase,
} from './postgres.ts';
export { type InfraSettings, loadInfraSettings } from './settings.ts';
