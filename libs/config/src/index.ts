export {
  base64KeySchema,
  type CommonConfig,
  commonSpec,
  databasePoolOptions,
  databaseSpec,
  durationMsSchema,
  hostPortListSchema,
  kafkaSpec,
  listenPortSchema,
  logLevels,
  postgresUrlSchema,
  regionSchema,
  regions,
  retentionSpec,
  tokenSchema,
} from './common.ts';
export {
  caFileSchema,
  type DatabaseSslMode,
  databaseSslModes,
  databaseSslOption,
  effectiveDatabaseSslMode,
  effectiveKafkaSecurityProtocol,
  isLoopbackHost,
  type KafkaConnectionOptions,
  type KafkaSaslMechanism,
  type KafkaSecurityProtocol,
  kafkaConnectionOptions,
  kafkaSaslMechanisms,
  kafkaSecurityProtocols,
  readSecretFile,
  secretFileSchema,
} from './connections.ts';
export {
  configDocsPath,
  documentedSpecs,
  renderConfigDocs,
  renderConfigHelp,
  renderConfigTable,
  TABLE_BEGIN,
  TABLE_END,
  writeConfigDocs,
} from './docs.ts';
export { ConfigDocsError, ConfigError, type ConfigProblem, ConfigSpecError } from './errors.ts';
export { localInfraSpec } from './local-infra.ts';
export {
  CONFIG_EXIT_CODE,
  type Env,
  type ExitIo,
  formatConfigProblems,
  loadConfigOrExit,
  parseConfig,
} from './parse.ts';
export {
  type CamelCase,
  type ConfigOf,
  type ConfigSpec,
  type ConfigVariable,
  type DeepReadonly,
  defineConfig,
  toCamelCase,
} from './spec.ts';
export { tracingSpec } from './tracing.ts';
