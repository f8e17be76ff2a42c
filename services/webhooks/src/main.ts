// Composition root of `massivesms webhooks`: configuration, adapters, start, drain on SIGTERM.
import { databasePoolOptions, kafkaConnectionOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { instrumentBus, kafkaLagSource } from '@massivesms/metrics';
import { LocalKms } from '@massivesms/privacy';
import { createLogger, drainOnSignal } from '@massivesms/telemetry';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { deliveryInternalRoutes } from './adapters/http/internal.ts';
import { buildWebhooksHttp } from './adapters/http/server.ts';
import { PgCommandStore } from './adapters/pg-commands.ts';
import { webhooksSpec } from './config.ts';
import { WebhookRecovery } from './recovery.ts';
import { startWebhooks, type Webhooks } from './webhooks.ts';

/** Runs the webhooks service until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfigOrExit(webhooksSpec, env);
  const log = createLogger({ service: 'webhooks', level: config.logLevel });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.setDefaultLabels({ cell: config.cell });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-webhooks' });
  const kafkaBus = new KafkaBus({
    ...kafkaConnectionOptions(config),
    clientId: `webhooks-${config.cell}`,
    log: (level, message, fields) => log[level](fields, message),
    stopTimeoutMs: config.shutdownTimeoutMs / 2,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
  });
  // Consumer and producer RED, and consumer lag from the admin API (read at most every 10 s).
  const bus = instrumentBus(kafkaBus, { registry, lag: kafkaLagSource(kafkaBus.kafka) });
  let webhooks: Webhooks | undefined;
  const http = buildWebhooksHttp({ ready: () => webhooks?.ready() ?? false, metrics: registry });
  // The control API reads deliveries and command outcomes here (cell-internal).
  await http.register(deliveryInternalRoutes, {
    deliveries: new WebhookRecovery(db),
    commands: new PgCommandStore(db),
  });
  const ops = await http.listen({ port: config.httpPort, host: '0.0.0.0' });
  webhooks = await startWebhooks({
    cell: config.cell,
    bus,
    db,
    kms: new LocalKms(config.kmsMasterKey),
    log,
    registry,
    namespace: config.topicNamespace ?? '',
    ssrf: { allowList: config.webhooksAllowlist },
    retentionPurgeEveryMs: config.retentionPurgeIntervalMs,
    worker: {
      attemptTimeoutMs: config.webhooksAttemptTimeoutMs,
      connectTimeoutMs: config.webhooksConnectTimeoutMs,
      perEndpointConcurrency: config.webhooksPerEndpointConcurrency,
      perEndpointRatePerSecond: config.webhooksPerEndpointRate,
      maxInFlight: config.webhooksMaxInFlight,
      disableAfterMs: config.webhooksDisableAfterMs,
      maxRetryAfterMs: config.webhooksMaxRetryAfterMs,
    },
  });
  log.info({ cell: config.cell, ops }, 'webhooks delivering');
  drainOnSignal(log, config.shutdownTimeoutMs, async () => {
    await webhooks?.stop();
    await bus.close();
    await http.close();
    await db.close();
  });
}
