// Composition root of `massivesms dispatcher`: configuration, carriers of the cell, start, drain on SIGTERM.
import {
  ConfigError,
  databasePoolOptions,
  formatConfigProblems,
  kafkaConnectionOptions,
  loadConfigOrExit,
} from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { instrumentBus, kafkaLagSource } from '@massivesms/metrics';
import { LocalKms } from '@massivesms/privacy';
import { createLogger, drainOnSignal } from '@massivesms/telemetry';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { telnyxCarrier } from './adapters/telnyx-carrier.ts';
import { twilioCarrier } from './adapters/twilio-carrier.ts';
import { RateLimits } from './application/rate-limits.ts';
import { carrierEndpoints, checkSendingTimeout, dispatcherSpec } from './config.ts';
import { reconcilePolicy, startDispatcher } from './dispatcher.ts';

/** Runs the dispatcher until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfigOrExit(dispatcherSpec, env);
  let hosts: ReturnType<typeof carrierEndpoints>;
  try {
    hosts = carrierEndpoints(config.cell, { telnyx: config.telnyxBaseUrl, twilio: config.twilioBaseUrl });
    checkSendingTimeout(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(formatConfigProblems(error.problems));
    process.exit(2);
  }
  const log = createLogger({ service: 'dispatcher', level: config.logLevel });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-dispatcher' });
  // The receipt ingress applies receipts through its own connections (carriers wait 2 s at most).
  const ingressDb = createPgDb({
    ...databasePoolOptions(config),
    applicationName: 'massivesms-dispatcher-ingress',
    max: 4,
  });
  const kafkaBus = new KafkaBus({
    ...kafkaConnectionOptions(config),
    clientId: `dispatcher-${config.cell}`,
    log: (level, message, fields) => log[level](fields, message),
    stopTimeoutMs: config.shutdownTimeoutMs / 2,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.setDefaultLabels({ cell: config.cell });
  // Consumer and producer RED, and consumer lag from the admin API (read at most every 10 s).
  const bus = instrumentBus(kafkaBus, { registry, lag: kafkaLagSource(kafkaBus.kafka) });
  const dispatcher = await startDispatcher({
    cell: config.cell,
    bus,
    db,
    ingressDb,
    kms: new LocalKms(config.kmsMasterKey),
    log,
    registry,
    rateLimits: new RateLimits({
      accountPerSecond: config.dispatcherAccountRates,
      senderPerSecond: config.dispatcherSenderRates,
      maxRetryAfterMs: config.dispatcherMaxRetryAfterMs,
    }),
    reconcile: reconcilePolicy({
      sendingTimeoutMs: config.dispatcherSendingTimeoutMs,
      quarantineMs: config.dispatcherQuarantineMs,
      receiptDeadlineMs: config.dispatcherReceiptDeadlineMs,
      finaliseAfterMs: config.dispatcherFinaliseAfterMs,
    }),
    maxCarrierWaitMs: config.dispatcherMaxCarrierWaitMs,
    retentionPurgeEveryMs: config.retentionPurgeIntervalMs,
    namespace: config.topicNamespace ?? '',
    ...(config.dispatcherPublicBaseUrl ? { publicBaseUrl: config.dispatcherPublicBaseUrl } : {}),
    ingress: {
      telnyxPublicKey: config.telnyxPublicKey,
      twilioAuthToken: config.twilioAuthToken,
      port: config.httpPort,
    },
    carriers: {
      telnyx: telnyxCarrier({
        apiKey: config.telnyxApiKey,
        baseUrl: hosts.telnyx,
        timeoutMs: config.carrierTimeoutMs,
        ...(config.telnyxMessagingProfileId ? { messagingProfileId: config.telnyxMessagingProfileId } : {}),
      }),
      twilio: twilioCarrier({
        accountSid: config.twilioAccountSid,
        authToken: config.twilioAuthToken,
        baseUrl: hosts.twilio,
        timeoutMs: config.carrierTimeoutMs,
      }),
    },
  });
  log.info({ cell: config.cell, ingress: dispatcher.ingressUrl }, 'dispatcher consuming');
  drainOnSignal(log, config.shutdownTimeoutMs, async () => {
    await dispatcher.stop();
    await bus.close();
    await ingressDb.close();
    await db.close();
  });
}
