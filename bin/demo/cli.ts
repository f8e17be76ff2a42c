// `massivesms demo` (npm start): its options, its help, and what it prints where. The story and the
// human summary go to stdout; with --json, stdout carries the summary as one JSON object and nothing else.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const DEMO_USAGE = 'usage: massivesms demo [--messages N] [--json] [--keep-running] [--help]';

export const DEMO_HELP = `${DEMO_USAGE}

  The embedded demo (npm start): every service of both cells in this process, on an in-memory bus and
  PGlite, with simulated carriers (Telnyx, Twilio) and a local webhook endpoint that verifies every
  signature. It sends a campaign with planted trouble (malformed requests, unknown customer, invalid
  and landline numbers, an opted-out recipient, expired requests, a purpose not allowed), a Telnyx
  outage in the US cell (its breaker opens, Twilio takes over) and one unanswered send in the EU cell,
  shows a progress bar per stage, and ends with a summary per cell whose figures add up.

  --messages N     requests in the campaign, 1 to 1000000 (default 500)
  --json           print only the summary, as one JSON object, on stdout
                   (through npm: npm start --silent -- --json, or npm's banner lands on stdout too)
  --keep-running   after the summary, keep the control API, the carrier simulators and the webhook
                   receiver up and print how to call them, until Ctrl-C
  -h, --help       this help

  The services' JSON log lines go to a file in the temporary directory; the summary names it.
  Environment: none (the demo needs no Kafka, PostgreSQL or configuration).`;

/** Runs `massivesms demo <args>`; returns the exit code (2: bad options, with the usage). */
export async function runDemoCommand(args: readonly string[]): Promise<number> {
  let values: { messages: string; json: boolean; 'keep-running': boolean; help: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        messages: { type: 'string', default: '500' },
        json: { type: 'boolean', default: false },
        'keep-running': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    return refuse((error as Error).message);
  }
  if (values.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  const messages = /^\d+$/.test(values.messages.trim()) ? Number(values.messages) : Number.NaN;
  if (!Number.isSafeInteger(messages) || messages < 1 || messages > 1_000_000)
    return refuse(`--messages must be a whole number from 1 to 1000000 (got '${values.messages}')`);
  // npm prints its banner ("> start") on stdout before the demo runs: say how to keep it off.
  if (
    values.json &&
    process.env.npm_lifecycle_event === 'start' &&
    process.env.npm_config_loglevel !== 'silent'
  )
    process.stderr.write(
      'massivesms demo: npm printed its banner on stdout before the JSON; use npm start --silent -- --json\n',
    );

  const { startDemo } = await import('./embedded.ts');
  const { formatSummary } = await import('./summary.ts');
  const logFile = join(tmpdir(), `massivesms-demo-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  let demo: Awaited<ReturnType<typeof startDemo>>;
  // Ctrl-C during the run exits through process.exit, so the demo's temporary databases are removed.
  const interrupted = () => {
    process.stderr.write(`\nmassivesms demo: interrupted\nService logs: ${logFile}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    demo = await startDemo({ messages, json: values.json, out: process.stdout, logFile });
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  } catch (error) {
    // A demo that cannot finish says why and where the services' logs are; the stack is in the log.
    process.stderr.write(`\nmassivesms demo: ${(error as Error).message}\nService logs: ${logFile}\n`);
    process.exit(1);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(demo.summary)}\n`);
  else process.stdout.write(`${formatSummary(demo.summary)}\n`);
  if (values['keep-running']) {
    // Human mode prints how to call them on stdout; with --json, stdout stays the JSON object alone.
    (values.json ? process.stderr : process.stdout).write(`${demo.howToCall}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write('stopping the demo…\n');
  }
  // Bounded: a stop that hangs (a connection held open) must not keep the terminal.
  const timer = setTimeout(() => {
    process.stderr.write('massivesms demo: the services did not stop within 10 s; exiting anyway\n');
    process.exit(1);
  }, 10_000);
  timer.unref();
  await demo.stop();
  clearTimeout(timer);
  return 0;
}

function refuse(message: string): number {
  console.error(
    `massivesms demo: ${message}\n\n${DEMO_USAGE}\n(massivesms demo --help: what it does and each option)`,
  );
  return 2;
}
