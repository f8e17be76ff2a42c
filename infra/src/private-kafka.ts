// A Kafka broker of one user's own (a test that stops and restarts its broker, a test that needs a
// SASL_SSL listener, the bench that must not share its broker's CPU), on free ports with its state in
// a temporary folder. Same version, settings and JVM options as the shared broker (ensureKafka); the
// shared broker is never touched.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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

/** The lowest port the kernel hands out by itself (for port 0 binds and outgoing connections). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return low || 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * `count` consecutive free ports (plaintext, controller, then SASL_SSL) below the ephemeral range:
 * while the broker is stopped, nothing that binds port 0 or connects out can be given its ports, so it
 * can always start again on them.
 */
async function freePorts(count: number): Promise<number> {
  const high = Math.min(ephemeralLow(), 65_535) - count;
  const low = 20_000;
  for (;;) {
    const port = low + Math.floor(Math.random() * (high - low));
    let free = true;
    for (let i = 0; i < count && free; i++) free = await listenable(port + i);
    if (free) return port;
  }
}

export interface PrivateKafka {
  /** The plaintext listener (administration, and the refused-plaintext check). */
  readonly brokers: string[];
  /** The SASL_SSL listener, when one was asked for. */
  readonly saslSslBrokers: string[];
  /** Stops the broker (SIGTERM, as an orchestrator would); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data; resolves once it answers. */
  start(): Promise<void>;
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
  const kafkaPort = await freePorts(options.saslSsl ? 3 : 2);
  const saslSsl = options.saslSsl ? { ...options.saslSsl, port: kafkaPort + 2 } : undefined;
  const kafka = { kafkaPort, stateDir, mavenRepo: settings.mavenRepo, ...(saslSsl ? { saslSsl } : {}) };
  const start = async () => {
    const started = await ensureKafka(kafka);
    if (!started.started) throw new Error(`port ${kafkaPort} is taken by another broker`);
  };
  const remove = async () => {
    await stopKafka(kafka);
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    brokers: [`127.0.0.1:${kafkaPort}`],
    saslSslBrokers: saslSsl ? [`127.0.0.1:${saslSsl.port}`] : [],
    stop: async () => {
      await stopKafka(kafka);
    },
    start,
    remove,
  };
}
