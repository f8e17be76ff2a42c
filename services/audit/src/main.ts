// Composition root of `massivesms audit`: configuration, adapters, start, drain on SIGTERM.
import { databasePoolOptions, kafkaConnectionOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { instrumentBus, kafkaLagSource } from '@massivesms/metrics';
import { LocalKms } from '@massivesms/privacy';
import { createLogger, drainOnSignal } from '@massivesms/telemetry';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { breachScopeRoutes } from './adapters/http/breach-scope.ts';
import { ledgerInternalRoutes } from './adapters/http/internal.ts';
import { buildAuditHttp } from './adapters/http/server.ts';
import { LedgerExports } from './adapters/pg-export.ts';
import { type Audit, auditCheckpointSigner, defaultAuditOrigin, startAudit } from './audit.ts';
import { auditSpec } from './config.ts';

/** Runs the audit service until SIGTERM/SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfigOrExit(auditSpec, env);
  const log = createLogger({ service: 'audit', level: config.logLevel });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.setDefaultLabels({ cell: config.cell });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-audit' });
  const kafkaBus = new KafkaBus({
    ...kafkaConnectionOptions(config),
    clientId: `audit-${config.cell}`,
    log: (level, message, fields) => log[level](fields, message),
    stopTimeoutMs: config.shutdownTimeoutMs / 2,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
  });
  // Consumer and producer RED, and consumer lag from the admin API (read at most every 10 s).
  const bus = instrumentBus(kafkaBus, { registry, lag: kafkaLagSource(kafkaBus.kafka) });
  let audit: Audit | undefined;
  const kms = new LocalKms(config.kmsMasterKey);
  const http = buildAuditHttp({ ready: () => audit?.ready() ?? false, metrics: registry });
  await http.register(breachScopeRoutes, {
    db,
    cell: config.cell,
    operatorToken: config.controlOperatorToken,
    contact: config.auditPrivacyContact,
    log,
  });
  // The control plane reads a controller's export and processing summary here (cell-internal).
  const signer = await auditCheckpointSigner(kms, config.auditOrigin ?? defaultAuditOrigin(config.cell));
  await http.register(ledgerInternalRoutes, {
    exports: new LedgerExports(db, signer, { cell: config.cell }),
  });
  const ops = await http.listen({ port: config.httpPort, host: '0.0.0.0' });
  audit = await startAudit({
    cell: config.cell,
    bus,
    db,
    log,
    registry,
    kms,
    ...(config.auditOrigin ? { origin: config.auditOrigin } : {}),
    checkpointEntries: config.auditCheckpointEntries,
    checkpointIntervalMs: config.auditCheckpointIntervalMs,
    namespace: config.topicNamespace ?? '',
  });
  // The verifier key is public: auditors pin it to check checkpoints and exports.
  log.info({ cell: config.cell, ops, verifierKey: audit.verifierKey }, 'audit appending');
  drainOnSignal(log, config.shutdownTimeoutMs, async () => {
    await audit?.stop();
    await bus.close();
    await http.close();
    await db.close();
  });
}
