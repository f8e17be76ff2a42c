import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafka, KAFKA_VERSION, loadInfraSettings, stopKafka } from '@massivesms/infra';

/** A broker of one test file's own, which it may stop and start (never the run's shared broker). */
export interface PrivateKafka {
  readonly brokers: string[];
  /** Stops the broker (SIGTERM, as an orchestrator would); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  remove(): Promise<void>;
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The lowest port the kernel hands out by itself (for port 0 binds and outgoing connections). */
function ephemeralLow(): number {
  try {
    return (
      Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768
    );
  } catch {
    return 32_768;
  }
}

/**
 * A free port whose successor is free too (the broker's controller listens on port + 1), below the
 * ephemeral range: while the broker is stopped, nothing that binds port 0 or connects out can be
 * given its ports, so it can always start again on them.
 */
async function freePortPair(): Promise<number> {
  const high = Math.min(ephemeralLow(), 65_535) - 2;
  const low = 20_000;
  for (;;) {
    const port = low + Math.floor(Math.random() * (high - low));
    if ((await listenable(port)) && (await listenable(port + 1))) return port;
  }
}

/** Starts a single-node broker on free ports with its state in a temporary folder. */
export async function startPrivateKafka(): Promise<PrivateKafka> {
  const settings = loadInfraSettings();
  const stateDir = mkdtempSync(join(tmpdir(), 'massivesms-private-kafka-'));
  // The jars the run's broker was started from, when this checkout started it: resolving them again
  // costs a Maven run.
  const sharedJars = join(settings.stateDir, 'kafka', KAFKA_VERSION, 'libs');
  if (existsSync(join(sharedJars, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    mkdirSync(join(stateDir, 'kafka', KAFKA_VERSION), { recursive: true });
    symlinkSync(sharedJars, join(stateDir, 'kafka', KAFKA_VERSION, 'libs'));
  }
  const kafka = { kafkaPort: await freePortPair(), stateDir, mavenRepo: settings.mavenRepo };
  const start = async () => {
    const started = await ensureKafka(kafka);
    if (!started.started) throw new Error(`port ${kafka.kafkaPort} is taken by another broker`);
  };
  try {
    await start();
  } catch (error) {
    await stopKafka(kafka);
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  return {
    brokers: [`127.0.0.1:${kafka.kafkaPort}`],
    stop: async () => {
      await stopKafka(kafka);
    },
    start,
    remove: async () => {
      await stopKafka(kafka);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
