import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForBroker } from '@massivesms/kafka';
import { repoRoot } from './paths.ts';
import { isAlive, portInUse, run, spawnDetached, terminate } from './process.ts';
import type { InfraSettings } from './settings.ts';

/** The Apache Kafka version of the local broker (see infra/kafka/README.md for why). */
export const KAFKA_VERSION = '4.1.1';

type KafkaSettings = Pick<InfraSettings, 'kafkaPort' | 'stateDir' | 'mavenRepo'> & {
  /** A second listener speaking SASL_SSL (tests of the production connection; never the shared broker). */
  readonly saslSsl?: SaslSslListener;
};

/** A SASL_SSL listener with SCRAM users: TLS from a PKCS12 keystore, then SCRAM-SHA-512 login. */
export interface SaslSslListener {
  readonly port: number;
  readonly keystoreFile: string;
  readonly keystorePassword: string;
  /** Created at format time (KIP-900), so the broker knows them from its first start. */
  readonly scramUsers: ReadonlyArray<{ readonly name: string; readonly password: string }>;
}

/** The broker properties that add the SASL_SSL listener to the plaintext test configuration. */
export function saslSslProperties(config: string, listener: SaslSslListener): string {
  const { port, keystoreFile, keystorePassword } = listener;
  const lines = config
    .split('\n')
    .map((line) => {
      if (line.startsWith('listeners=')) return `${line},SASL_SSL://127.0.0.1:${port}`;
      if (line.startsWith('advertised.listeners=')) return `${line},SASL_SSL://127.0.0.1:${port}`;
      if (line.startsWith('listener.security.protocol.map=')) return `${line},SASL_SSL:SASL_SSL`;
      return line;
    })
    .join('\n');
  // The controller and inter-broker listeners stay PLAINTEXT on loopback (KRaft controllers cannot use SCRAM).
  return `${lines}
# SASL_SSL listener (tests of the production connection)
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=${keystoreFile}
ssl.keystore.password=${keystorePassword}
ssl.client.auth=none
`;
}

const kafkaDir = (settings: Pick<InfraSettings, 'stateDir'>) => join(settings.stateDir, 'kafka');
const pidFile = (settings: Pick<InfraSettings, 'stateDir'>) => join(kafkaDir(settings), 'broker.pid');

export interface LocalKafka {
  readonly brokers: string;
  readonly version: string;
  /** True when this call started the broker (and so `stopKafka` may stop it). */
  readonly started: boolean;
  readonly pid: number | undefined;
}

/** Jars of the pinned version, resolved from Maven Central into the local Maven cache once. */
export async function resolveKafkaJars(
  settings: Pick<InfraSettings, 'stateDir' | 'mavenRepo'>,
): Promise<string> {
  const libs = join(kafkaDir(settings), KAFKA_VERSION, 'libs');
  if (existsSync(join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`))) return libs;
  mkdirSync(libs, { recursive: true });
  await run('mvn', [
    '-B',
    '-q',
    '-f',
    join(repoRoot, 'infra/kafka/pom.xml'),
    `-Dmaven.repo.local=${settings.mavenRepo}`,
    `-Dkafka.version=${KAFKA_VERSION}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${libs}`,
  ]);
  return libs;
}

function javaArgs(libs: string, mainClass: string, args: readonly string[]): string[] {
  return [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(repoRoot, 'infra/kafka/log4j2.xml')}`,
    '-cp',
    `${libs}/*`,
    mainClass,
    ...args,
  ];
}

function readPid(settings: Pick<InfraSettings, 'stateDir'>): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(settings), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  } catch {}
  return findBrokerProcess(settings);
}

/** A broker running on this state folder's config even if its pid file was lost (Linux /proc). */
function findBrokerProcess(settings: Pick<InfraSettings, 'stateDir'>): number | undefined {
  const config = join(kafkaDir(settings), 'server.properties');
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.includes('kafka.Kafka') && cmdline.includes(config)) return Number(entry);
    } catch {}
  }
  return undefined;
}

/**
 * Ensures a single-node KRaft broker answers on 127.0.0.1:`port`: reuses one that already does,
 * otherwise formats storage (first time) and starts it from the Maven-resolved jars.
 */
export async function ensureKafka(settings: KafkaSettings): Promise<LocalKafka> {
  const port = settings.kafkaPort;
  const brokers = `127.0.0.1:${port}`;
  const runningPid = readPid(settings);
  if (runningPid !== undefined || (await portInUse(port))) {
    await waitForBroker([brokers], 60_000);
    return {
      brokers,
      version: runningPid ? KAFKA_VERSION : 'unknown (not started here)',
      started: false,
      pid: runningPid,
    };
  }
  const libs = await resolveKafkaJars(settings);
  const dir = kafkaDir(settings);
  const dataDir = join(dir, 'data');
  const config = join(dir, 'server.properties');
  const logFile = join(dir, 'broker.log');
  const template = readFileSync(join(repoRoot, 'infra/kafka/server.properties.template'), 'utf8');
  const rendered = template
    .replaceAll('@PORT@', String(port))
    .replaceAll('@CONTROLLER_PORT@', String(port + 1))
    .replaceAll('@DATA_DIR@', dataDir);
  writeFileSync(config, settings.saslSsl ? saslSslProperties(rendered, settings.saslSsl) : rendered);
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    const clusterId = (await run('java', javaArgs(libs, 'kafka.tools.StorageTool', ['random-uuid'])))
      .trim()
      .split('\n')
      .pop()!;
    const scram = (settings.saslSsl?.scramUsers ?? []).flatMap((u) => [
      '--add-scram',
      `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`,
    ]);
    await run(
      'java',
      javaArgs(libs, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', config, ...scram]),
    );
  }
  const pid = spawnDetached('java', javaArgs(libs, 'kafka.Kafka', [config]), logFile);
  writeFileSync(pidFile(settings), String(pid));
  try {
    await waitForBroker([brokers], 90_000);
  } catch (error) {
    await terminate(pid);
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    throw new Error(`Kafka did not become ready; last lines of ${logFile}:\n${tail}`, { cause: error });
  }
  return { brokers, version: KAFKA_VERSION, started: true, pid };
}

/** Stops the broker this repository started (no-op when none runs). */
export async function stopKafka(settings: Pick<InfraSettings, 'stateDir'>): Promise<boolean> {
  const pid = readPid(settings);
  if (pid === undefined) return false;
  await terminate(pid);
  writeFileSync(pidFile(settings), '');
  return true;
}
