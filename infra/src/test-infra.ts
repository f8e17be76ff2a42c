// Which infrastructure the test run uses (DESIGN.md asks for testcontainers): Kafka and PostgreSQL
// in containers where a Docker engine is reachable, else the Kafka jars and the local PostgreSQL
// server (infraUp). MASSIVESMS_TEST_INFRA overrides the choice; KAFKA_BROKERS and DATABASE_URL, when
// set, are used as given either way.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitForBroker } from '@massivesms/kafka';
import { type Infra, infraUp } from './infra.ts';
import { KAFKA_VERSION, stopKafka } from './kafka.ts';
import { repoRoot } from './paths.ts';
import {
  ensureDatabase,
  ensurePostgres,
  postgresVersion,
  stopThrowawayCluster,
  throwawayDir,
  withDatabase,
} from './postgres.ts';
import { freePort } from './process.ts';
import type { InfraSettings } from './settings.ts';

/** Values of MASSIVESMS_TEST_INFRA. */
export const testInfraRequests = ['auto', 'containers', 'local'] as const;
export type TestInfraRequest = (typeof testInfraRequests)[number];

/** Images of the container path: the same Apache Kafka version as the jars; the local server's major. */
export const KAFKA_IMAGE = `apache/kafka:${KAFKA_VERSION}`;
export const POSTGRES_IMAGE = 'postgres:15';

export interface DockerProbe {
  readonly reachable: boolean;
  /** Where the engine answered, or why none did (for the first line of the run). */
  readonly detail: string;
}

export interface TestInfraChoice {
  readonly mode: 'containers' | 'local';
  readonly reason: string;
}

/** Thrown when containers are asked for and no Docker engine answers. */
export class NoDockerEngineError extends Error {
  override readonly name = 'NoDockerEngineError';
}

/** The decision: the request wins; `auto` takes containers exactly when an engine answers. */
export function chooseTestInfra(request: TestInfraRequest, docker: DockerProbe): TestInfraChoice {
  if (request === 'local') return { mode: 'local', reason: 'MASSIVESMS_TEST_INFRA=local' };
  if (request === 'containers') {
    if (!docker.reachable) {
      throw new NoDockerEngineError(
        `MASSIVESMS_TEST_INFRA=containers, but no Docker engine is reachable (${docker.detail})`,
      );
    }
    return {
      mode: 'containers',
      reason: `MASSIVESMS_TEST_INFRA=containers; Docker engine at ${docker.detail}`,
    };
  }
  return docker.reachable
    ? { mode: 'containers', reason: `Docker engine at ${docker.detail}` }
    : { mode: 'local', reason: `no Docker engine reachable: ${docker.detail}` };
}

/**
 * Places testcontainers looks for an engine (its configuration strategies), so that the common case
 * here, no engine at all, is told without loading testcontainers (~0.6 s).
 */
export function dockerCandidates(
  env: Readonly<Record<string, string | undefined>>,
  exists: (path: string) => boolean = existsSync,
  home: string = homedir(),
  uid: number = userInfo().uid,
): string[] {
  const found: string[] = [];
  for (const name of ['DOCKER_HOST', 'TESTCONTAINERS_HOST_OVERRIDE']) {
    const value = env[name];
    if (value) found.push(`${name}=${value}`);
  }
  const sockets = [
    join(home, '.testcontainers.properties'),
    '/var/run/docker.sock',
    ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'docker.sock')] : []),
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    join('/run', 'user', String(uid), 'docker.sock'),
  ];
  for (const path of sockets) if (exists(path)) found.push(path);
  return found;
}

/** Whether a Docker engine answers, asked the way testcontainers will ask it (bounded). */
export async function probeDocker(
  env: Readonly<Record<string, string | undefined>> = process.env,
  timeoutMs = 10_000,
): Promise<DockerProbe> {
  const candidates = dockerCandidates(env);
  if (candidates.length === 0) {
    return { reachable: false, detail: 'no DOCKER_HOST, no docker.sock, no ~/.testcontainers.properties' };
  }
  const { getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const client = await Promise.race([getContainerRuntimeClient(), timeout]);
    return { reachable: true, detail: client.info.containerRuntime.host };
  } catch (error) {
    return { reachable: false, detail: `${candidates.join(', ')}: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Kafka's property name as an environment variable of the apache/kafka image (. → _, _ → __, - → ___). */
export function kafkaPropertyEnvName(property: string): string {
  // Underscores first: the other two rules produce underscores of their own.
  return `KAFKA_${property.replaceAll('_', '__').replaceAll('-', '___').replaceAll('.', '_').toUpperCase()}`;
}

/**
 * The apache/kafka image's environment for the broker of infra/kafka/server.properties.template, so
 * the container runs with the same settings as the jars: only the listeners change (bind all
 * interfaces in the container, advertise the address the tests reach the mapped port at).
 */
export function kafkaContainerEnvironment(template: string, advertised: string): Record<string, string> {
  const rendered = template
    .replaceAll('@PORT@', '9092')
    .replaceAll('@CONTROLLER_PORT@', '9093')
    .replaceAll('@DATA_DIR@', '/tmp/kraft-combined-logs');
  const env: Record<string, string> = {};
  for (const line of rendered.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    env[kafkaPropertyEnvName(trimmed.slice(0, eq))] = trimmed.slice(eq + 1);
  }
  env[kafkaPropertyEnvName('listeners')] = 'PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093';
  env[kafkaPropertyEnvName('advertised.listeners')] = `PLAINTEXT://${advertised}`;
  return env;
}

/** What the run uses, the choice, and how to stop what it started. */
export interface TestInfra extends Infra {
  readonly choice: TestInfraChoice;
  /** Stops what this call started (containers, or the local broker and cluster). */
  stop(): Promise<void>;
}

/** Brings up the test infrastructure the choice names and ensures `database` exists. */
export async function testInfraUp(settings: InfraSettings, database: string): Promise<TestInfra> {
  const docker: DockerProbe =
    settings.testInfra === 'local' ? { reachable: false, detail: 'not asked' } : await probeDocker();
  const choice = chooseTestInfra(settings.testInfra, docker);
  if (choice.mode === 'local') {
    const infra = await infraUp(settings, database);
    return { ...infra, choice, stop: () => stopLocal(settings, infra) };
  }
  return containersUp(settings, database, choice);
}

async function stopLocal(settings: InfraSettings, infra: Infra): Promise<void> {
  await Promise.all([
    infra.started.kafka ? stopKafka(settings) : undefined,
    infra.started.postgres ? stopThrowawayCluster(throwawayDir(settings)) : undefined,
  ]);
}

/** Kafka (apache/kafka, the jars' version and settings) and PostgreSQL in containers. */
async function containersUp(
  settings: InfraSettings,
  database: string,
  choice: TestInfraChoice,
): Promise<TestInfra> {
  const { GenericContainer, getContainerRuntimeClient } = await import('testcontainers');
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    await Promise.all(stops.map((s) => s().catch(() => {})));
  };
  try {
    const kafka = async () => {
      if (settings.externalKafkaBrokers) {
        return {
          brokers: settings.externalKafkaBrokers.join(','),
          version: 'unknown (KAFKA_BROKERS)',
          started: false,
        };
      }
      const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
      // Kafka's clients connect to the advertised address, so the host port is fixed before start.
      const hostPort = await freePort();
      const template = readFileSync(join(repoRoot, 'infra/kafka/server.properties.template'), 'utf8');
      const container = await new GenericContainer(KAFKA_IMAGE)
        .withExposedPorts({ container: 9092, host: hostPort })
        .withEnvironment(kafkaContainerEnvironment(template, `${host}:${hostPort}`))
        .withStartupTimeout(120_000)
        .start();
      stops.push(() => container.stop());
      const brokers = `${host}:${hostPort}`;
      await waitForBroker([brokers], 90_000);
      return { brokers, version: `${KAFKA_VERSION} (${KAFKA_IMAGE})`, started: true };
    };
    const postgres = async () => {
      if (settings.externalDatabaseUrl) return ensurePostgres(settings);
      const container = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
      stops.push(() => container.stop());
      const serverUrl = withDatabase(container.getConnectionUri(), 'postgres');
      const version = (await postgresVersion(serverUrl, 10_000)) ?? 'unknown';
      return { serverUrl, version, source: `testcontainers ${POSTGRES_IMAGE}` as const, started: true };
    };
    const [k, p] = await Promise.all([kafka(), postgres()]);
    const databaseUrl =
      p.source === 'DATABASE_URL' ? p.serverUrl : await ensureDatabase(p.serverUrl, database);
    return {
      kafkaBrokers: k.brokers,
      kafkaVersion: k.version,
      databaseUrl,
      postgresVersion: p.version,
      postgresSource: p.source,
      started: { kafka: k.started, postgres: p.started },
      choice,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
