export { type Infra, infraDown, infraUp, provisionTopics } from './infra.ts';
export {
  ensureKafka,
  KAFKA_VERSION,
  resolveKafkaJars,
  type SaslSslListener,
  saslSslProperties,
  stopKafka,
} from './kafka.ts';
export {
  ensureDatabase,
  ensurePostgres,
  type PrivateTlsPostgres,
  postgresVersion,
  startPrivateTlsCluster,
  startThrowawayCluster,
  stopThrowawayCluster,
  withDatabase,
} from './postgres.ts';
export { type PrivateKafka, startPrivateKafka } from './private-kafka.ts';
export { type InfraSettings, loadInfraSettings } from './settings.ts';
export {
  chooseTestInfra,
  type DockerProbe,
  dockerCandidates,
  KAFKA_IMAGE,
  kafkaContainerEnvironment,
  kafkaPropertyEnvName,
  NoDockerEngineError,
  POSTGRES_IMAGE,
  probeDocker,
  type TestInfra,
  type TestInfraChoice,
  type TestInfraRequest,
  testInfraRequests,
  testInfraUp,
} from './test-infra.ts';
export { createTestPki, type TestPki } from './tls.ts';
