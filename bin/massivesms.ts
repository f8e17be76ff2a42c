#!/usr/bin/env -S sh -c 'exec "$(dirname "$(realpath "$0")")/node24" "$0" "$@"'
// The one CLI (DESIGN.md §9). Thin: each verb validates its options (exit 2 with the usage) and its
// configuration first, so a bad environment value fails fast with the variable's name, then hands
// over to a service or lib. `--help` on any command prints its usage and environment and does nothing
// else. A start that fails on PostgreSQL or Kafka says which variable and address, and what to do.
// Tracing first (when OTEL_* configure it, and never for --help), before any client library is loaded.
import '@massivesms/telemetry/register';
import { parseArgs } from 'node:util';
import { describeStartFailure } from './failures.ts';
import { commandHelp, isHelp, UnknownCommandError, USAGE } from './help.ts';

const [command, ...rest] = process.argv.slice(2);

/** The services `massivesms <service>` runs until SIGTERM; configured by environment only. */
const entryPoints = {
  control: () => import('@massivesms/control'),
  router: () => import('@massivesms/router'),
  dispatcher: () => import('@massivesms/dispatcher'),
  webhooks: () => import('@massivesms/webhooks'),
  audit: () => import('@massivesms/audit'),
} as const;

/** Refuses anything but `--help` for a command that takes no options; the exit code, or undefined to go on. */
async function onlyHelp(name: string, args: string[]): Promise<number | undefined> {
  try {
    const { values } = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h', default: false } },
    });
    if (!values.help) return undefined;
    console.log(await commandHelp(name));
    return 0;
  } catch (error) {
    // The usage line, not the whole environment: that is what --help is for.
    const usage = (await commandHelp(name)).split('\n')[0];
    console.error(
      `massivesms ${name}: ${(error as Error).message}\n\n${usage}\n(massivesms ${name} --help: what it does, its environment)`,
    );
    return 2;
  }
}

/**
 * Runs `start` (which parses its configuration first) so that a configuration refusal, which ends the
 * process with exit 2 after naming each bad variable, also says where every variable is described.
 */
async function withConfigHint<T>(name: string, start: () => Promise<T>): Promise<T> {
  const hint = (code: number) => {
    if (code === 2)
      process.stderr.write(
        `massivesms ${name}: fix the variables above, then start it again (massivesms ${name} --help lists every variable it reads, with its default; docs/configuration.md).\n`,
      );
  };
  process.on('exit', hint);
  try {
    return await start();
  } finally {
    process.off('exit', hint);
  }
}

async function main(): Promise<number> {
  if (command === undefined || isHelp(command)) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'help') {
    const topic = rest[0];
    if (topic === undefined) console.log(USAGE);
    else if (topic === 'demo') return run('demo', ['--help']);
    else {
      const help = await commandHelp(rest.join(' ')).catch((error: unknown) => {
        if (error instanceof UnknownCommandError) return undefined;
        throw error;
      });
      if (help === undefined) {
        console.error(`massivesms help: no command ${rest.join(' ')}\n\n${USAGE}`);
        return 2;
      }
      console.log(help);
    }
    return 0;
  }
  return run(command, rest);
}

/** Runs one command with its arguments; returns the exit code. */
async function run(command: string, rest: string[]): Promise<number> {
  if (command === 'migrate') {
    const refused = await onlyHelp('migrate', rest);
    if (refused !== undefined) return refused;
    const { runMigrate } = await import('./migrate.ts');
    return withConfigHint('migrate', runMigrate);
  }
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
  if (command in entryPoints) {
    const refused = await onlyHelp(command, rest);
    if (refused !== undefined) return refused;
    const service = await entryPoints[command as keyof typeof entryPoints]();
    await withConfigHint(command, () => service.main());
    return 0;
  }
  if (command === 'demo') {
    const { runDemoCommand } = await import('./demo/cli.ts');
    return runDemoCommand(rest);
  }
  if (command === 'deadletter') {
    const { runDeadLetterCommand } = await import('./deadletter.ts');
    return runDeadLetterCommand(rest);
  }
  if (command === 'simulate') {
    const { runSimulator } = await import('./simulate.ts');
    return runSimulator(rest);
  }
  console.error(
    `massivesms: unknown ${command.startsWith('-') ? 'option' : 'command'} '${command}'\n\n${USAGE}`,
  );
  return 2;
}

try {
  process.exitCode = await main();
} catch (error) {
  // PostgreSQL or Kafka out of reach: one paragraph naming the variable, the address and what to do.
  // Anything else is a bug, whose stack is what its report needs.
  const explained = describeStartFailure(error, process.env);
  if (explained === undefined) throw error;
  const verb = command === 'audit' && rest[0]?.startsWith('verify') ? `audit ${rest[0]}` : command;
  console.error(`massivesms ${verb}: ${explained}`);
  // A service may hold its ops port and Kafka clients open by now: nothing else would end it.
  process.exit(1);
}
