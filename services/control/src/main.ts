// Composition root of `massivesms control`: configuration, adapters, start, drain on SIGTERM.
import { databasePoolOptions, kafkaConnectionOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { kafkaLagSource } from '@massivesms/metrics';
import { LocalKms } from '@massivesms/privacy';
import { createLogger, drainOnSignal } from '@massivesms/telemetry';
import { controlSpec } from './config.ts';
import { createControl } from './control.ts';

/** Runs the control service until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfigOrExit(controlSpec, env);
  const log = createLogger({ service: 'control', level: config.logLevel });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-control' });
  const bus = new KafkaBus({
    ...kafkaConnectionOptions(config),
    clientId: `control-${config.cell}`,
    log: (level, message, fields) => log[level](fields, message),
    stopTimeoutMs: config.shutdownTimeoutMs / 2,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
  });
  const kms = new LocalKms(config.kmsMasterKey);
  const control = await createControl({
    cell: config.cell,
    db,
    bus,
    lag: kafkaLagSource(bus.kafka),
    kms,
    log,
    operatorToken: config.controlOperatorToken,
    topicNamespace: config.topicNamespace ?? '',
    tls:
      config.controlTlsCertFile && config.controlTlsKeyFile
        ? { certFile: config.controlTlsCertFile, keyFile: config.controlTlsKeyFile }
        : undefined,
    webhookAllowList: config.controlWebhookAllowlist,
    maxRetentionDays: {
      content: config.controlMaxContentRetentionDays,
      metadata: config.controlMaxMetadataRetentionDays,
    },
    // Deliveries and the ledger are read from the services that own them (cell-internal HTTP).
    webhooksUrl: config.webhooksInternalUrl,
    auditUrl: config.auditInternalUrl,
    dsrServices: config.controlDsrServices,
    terminationGraceDays: config.controlTerminationGraceDays,
    terminationCheckIntervalMs: config.controlTerminationCheckIntervalMs,
  });
  const address = await control.listen(config.httpPort);
  log.info({ address, cell: config.cell }, 'control API listening');
  drainOnSignal(log, config.shutdownTimeoutMs, async () => {
    await control.close();
    await bus.close();
    await db.close();
  });
}
