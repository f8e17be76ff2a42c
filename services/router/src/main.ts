// Composition root of `massivesms router`: configuration, adapters, start, drain on SIGTERM.
import { databasePoolOptions, kafkaConnectionOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { instrumentBus, kafkaLagSource } from '@massivesms/metrics';
import { LocalKms } from '@massivesms/privacy';
import { createLogger, drainOnSignal, startOpsServer } from '@massivesms/telemetry';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { routerSpec } from './config.ts';
import { startRouter } from './router.ts';

/** Runs the router until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfigOrExit(routerSpec, env);
  const log = createLogger({ service: 'router', level: config.logLevel });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.setDefaultLabels({ cell: config.cell });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-router' });
  const kafkaBus = new KafkaBus({
    ...kafkaConnectionOptions(config),
    clientId: `router-${config.cell}`,
    log: (level, message, fields) => log[level](fields, message),
    stopTimeoutMs: config.shutdownTimeoutMs / 2,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
  });
  // Consumer and producer RED, and consumer lag from the admin API (read at most every 10 s).
  const bus = instrumentBus(kafkaBus, { registry, lag: kafkaLagSource(kafkaBus.kafka) });
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  const ops = await startOpsServer({
    port: config.httpPort,
    ready: () => router?.ready() ?? false,
    metrics: registry,
  });
  router = await startRouter({
    cell: config.cell,
    bus,
    db,
    kms: new LocalKms(config.kmsMasterKey),
    log,
    registry,
    namespace: config.topicNamespace ?? '',
    maxSegments: config.routerMaxSegments,
    retentionPurgeEveryMs: config.retentionPurgeIntervalMs,
  });
  log.info({ cell: config.cell, ops: ops.url }, 'router consuming');
  drainOnSignal(log, config.shutdownTimeoutMs, async () => {
    await router?.stop();
    await bus.close();
    await ops.close();
    await db.close();
  });
}
