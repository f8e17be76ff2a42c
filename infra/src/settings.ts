import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  defineConfig,
  hostPortListSchema,
  loadConfigOrExit,
  localInfraSpec,
  postgresUrlSchema,
} from '@massivesms/config';
import { repoRoot } from './paths.ts';

// KAFKA_BROKERS and DATABASE_URL mean "use this server, start nothing" here, so unlike in a service
// they are optional; they are documented once, with the service variables.
const infraSpec = defineConfig({
  ...localInfraSpec,
  KAFKA_BROKERS: {
    schema: hostPortListSchema().optional(),
    key: 'externalKafkaBrokers',
    description: 'Use this broker instead of starting one.',
  },
  DATABASE_URL: {
    schema: postgresUrlSchema().optional(),
    key: 'externalDatabaseUrl',
    description: 'Use this server instead of finding or starting one.',
  },
});

/** Where and how local infrastructure runs. */
export interface InfraSettings {
  readonly kafkaPort: number;
  readonly stateDir: string;
  readonly mavenRepo: string;
  readonly externalKafkaBrokers: readonly string[] | undefined;
  readonly externalDatabaseUrl: string | undefined;
  /** MASSIVESMS_TEST_INFRA: containers, the jars and local server, or whichever is available. */
  readonly testInfra: 'auto' | 'containers' | 'local';
}

/** Parses the environment once; a bad value exits 2 naming the variable. */
export function loadInfraSettings(env: NodeJS.ProcessEnv = process.env): InfraSettings {
  const config = loadConfigOrExit(infraSpec, env);
  return {
    kafkaPort: config.massivesmsKafkaPort,
    stateDir: config.massivesmsStateDir ?? join(repoRoot, '.local/infra'),
    mavenRepo: config.mavenRepoLocal ?? join(homedir(), '.m2/repository'),
    externalKafkaBrokers: config.externalKafkaBrokers,
    externalDatabaseUrl: config.externalDatabaseUrl,
    testInfra: config.massivesmsTestInfra,
  };
}
