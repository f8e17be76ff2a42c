#!/usr/bin/env node
// The one CLI (DESIGN.md §9). Thin: each verb validates its configuration first, so a bad
// environment value fails fast with the variable's name, then hands over to a service or lib.
// Tracing first (when OTEL_* configure it), before any client library is loaded.
import '@massivesms/telemetry/register';
import { commonSpec, databasePoolOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb, migrateAll } from '@massivesms/db';
import { createLogger } from '@massivesms/telemetry';
import { serviceMigrations } from './migrations.ts';

const usage = `usage: massivesms <command>

  control|router|dispatcher|webhooks|audit   run one service (configured by environment)
  audit verify [--cell C] [--from SEQ]       check the cell's audit ledger (chain, no gaps, signed checkpoints)
  audit verify-export BUNDLE [--key K]       check a controller's audit export offline (no database)
  breach-scope --subprocessor S --from --to  scope a breach per controller from the audit ledger; draft notice (--help)
  migrate                                    apply every service's database migrations
  deadletter list|replay [--cell C] ...      list dead letters; replay them after a fix (docs/dead-letters.md)
  simulate telnyx|twilio|receiver --port N   run a carrier or webhook-receiver simulator
  demo [--messages N] [--json]               the embedded demo (npm start; default 500 messages)

Configuration: docs/configuration.md`;

/** Services and the issue that brings each one; they refuse to start until they exist. */
const services: Readonly<Record<string, number>> = {};

const [command, ...rest] = process.argv.slice(2);

async function main(): Promise<number> {
  if (command === 'migrate') {
    const { migrateSpec } = await import('./specs.ts');
    const config = loadConfigOrExit(migrateSpec);
    const log = createLogger({ service: 'migrate', level: config.logLevel });
    const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-migrate' });
    try {
      const results = await migrateAll(db, serviceMigrations);
      if (results.length === 0) log.info('no service has migrations yet');
      for (const r of results) log.info({ service: r.service, applied: r.applied }, 'migrations applied');
    } finally {
      await db.close();
    }
    return 0;
  }
  const entryPoints = {
    control: () => import('@massivesms/control'),
    router: () => import('@massivesms/router'),
    dispatcher: () => import('@massivesms/dispatcher'),
    webhooks: () => import('@massivesms/webhooks'),
    audit: () => import('@massivesms/audit'),
  } as const;
  if (command === 'audit' && rest[0] === 'verify') {
    const { runAuditVerify } = await import('./audit.ts');
    return runAuditVerify(rest.slice(1));
  }
  if (command === 'audit' && rest[0] === 'verify-export') {
    const { runAuditVerifyExport } = await import('./audit.ts');
    return runAuditVerifyExport(rest.slice(1));
  }
  if (command === 'breach-scope') {
    const { runBreachScope } = await import('./breach-scope.ts');
    return runBreachScope(rest);
  }
  if (command !== undefined && command in entryPoints) {
    const service = await entryPoints[command as keyof typeof entryPoints]();
    await service.main();
    return 0;
  }
  if (command !== undefined && command in services) {
    loadConfigOrExit(commonSpec);
    const issue = services[command];
    console.error(`massivesms ${command}: this service is not built yet (issue ${issue})`);
    return 70;
  }
  if (command === 'demo') {
    const { parseArgs } = await import('node:util');
    let values: { messages: string; json: boolean; help: boolean };
    try {
      ({ values } = parseArgs({
        args: rest,
        options: {
          messages: { type: 'string', default: '500' },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h', default: false },
        },
      }));
    } catch (error) {
      console.error(`massivesms demo: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const messages = Number(values.messages);
    if (!Number.isInteger(messages) || messages < 1 || messages > 1_000_000) {
      console.error('massivesms demo: --messages must be a whole number from 1 to 1000000');
      return 2;
    }
    const { formatSummary, runDemo } = await import('./demo/embedded.ts');
    const summary = await runDemo({ messages, json: values.json });
    if (values.json) console.log(JSON.stringify(summary));
    else console.log(formatSummary(summary));
    return 0;
  }
  if (command === 'deadletter') {
    const { runDeadLetterCommand } = await import('./deadletter.ts');
    return runDeadLetterCommand(rest);
  }
  if (command === 'simulate') {
    const { runSimulator } = await import('./simulate.ts');
    return runSimulator(rest);
  }
  console.error(usage);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
}

process.exitCode = await main();
