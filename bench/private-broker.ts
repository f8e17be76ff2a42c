// A Kafka broker of the bench's own (BENCH_PIPELINE_BROKER=private): the shared broker also serves
// other users of the machine, whose traffic would count as the pipeline's CPU. Same version, settings
// and JVM options as the shared one (infra's ensureKafka), on free ports, state in a temporary folder.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafka, KAFKA_VERSION, loadInfraSettings, stopKafka } from '@massivesms/infra';

const listenable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Starts the broker (its controller listens on the next port); `remove()` stops it and deletes its data. */
export async function startPrivateBroker(): Promise<{ brokers: string[]; remove(): Promise<void> }> {
  const settings = loadInfraSettings();
  const stateDir = mkdtempSync(join(tmpdir(), 'massivesms-bench-kafka-'));
  // The jars of this checkout's shared broker, when it started one: resolving them costs a Maven run.
  const jars = join(settings.stateDir, 'kafka', KAFKA_VERSION, 'libs');
  if (existsSync(join(jars, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    mkdirSync(join(stateDir, 'kafka', KAFKA_VERSION), { recursive: true });
    symlinkSync(jars, join(stateDir, 'kafka', KAFKA_VERSION, 'libs'));
  }
  let kafkaPort = 0;
  while (kafkaPort === 0) {
    const port = 20_000 + Math.floor(Math.random() * 12_000); // below the ephemeral range
    if ((await listenable(port)) && (await listenable(port + 1))) kafkaPort = port;
  }
  const kafka = { kafkaPort, stateDir, mavenRepo: settings.mavenRepo };
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
  return { brokers: [`127.0.0.1:${kafkaPort}`], remove };
}
