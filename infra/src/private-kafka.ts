// A Kafka broker of one test's own, on free ports with its state in a temporary folder, for tests
// that need a broker configured differently from the shared one (a SASL_SSL listener). Same version,
// settings and JVM options as the shared broker (ensureKafka); the shared broker is never touched.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafka, KAFKA_VERSION, resolveKafkaJars, type SaslSslListener, stopKafka } from './kafka.ts';
import { loadInfraSettings } from './settings.ts';

const listenable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Three consecutive free ports below the ephemeral range (plaintext, controller, SASL_SSL). */
async function freePorts(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await listenable(port)) && (await listenable(port + 1)) && (await listenable(port + 2))) return port;
  }
}

export interface PrivateKafka {
  /** The plaintext listener (administration, and the refused-plaintext check). */
  readonly brokers: string[];
  /** The SASL_SSL listener, when one was asked for. */
  readonly saslSslBrokers: string[];
  /** Stops the broker and deletes its data. */
  remove(): Promise<void>;
}

/** Starts a private broker; with `saslSsl`, a SASL_SSL listener on the port after the controller's. */
export async function startPrivateKafka(
  options: { readonly saslSsl?: Omit<SaslSslListener, 'port'> } = {},
): Promise<PrivateKafka> {
  const settings = loadInfraSettings({ ...process.env, KAFKA_BROKERS: undefined });
  // The checkout's jars (one Maven resolution, shared by every private broker), linked in.
  const jars = await resolveKafkaJars(settings);
  const stateDir = mkdtempSync(join(tmpdir(), 'massivesms-private-kafka-'));
  mkdirSync(join(stateDir, 'kafka', KAFKA_VERSION), { recursive: true });
  if (existsSync(jars)) symlinkSync(jars, join(stateDir, 'kafka', KAFKA_VERSION, 'libs'));
  const kafkaPort = await freePorts();
  const saslSsl = options.saslSsl ? { ...options.saslSsl, port: kafkaPort + 2 } : undefined;
  const kafka = { kafkaPort, stateDir, mavenRepo: settings.mavenRepo, ...(saslSsl ? { saslSsl } : {}) };
  const remove = async () => {
    await stopKafka(kafka);
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const started = await ensureKafka(kafka);
    if (!started.started) throw new Error(`port ${kafkaPort} is taken by another broker`);
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    brokers: [`127.0.0.1:${kafkaPort}`],
    saslSslBrokers: saslSsl ? [`127.0.0.1:${saslSsl.port}`] : [],
    remove,
  };
}
