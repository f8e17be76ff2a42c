import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
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

/** A free port whose successor is free too: the broker's controller listens on port + 1. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port < 65_535 && (await listenable(port + 1))) return port;
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
