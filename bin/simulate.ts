// `massivesms simulate telnyx|twilio|receiver --port N`: a simulator for manual testing and the demo.
// Carriers: faults are driven through `POST /__admin/faults`; the ledger is at `GET /__admin/ledger`.
// Receiver: a customer's webhook endpoint; more endpoints through `POST /__admin/endpoints`, the
// deliveries at `GET /__admin/received`.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startTelnyxSimulator, startTwilioSimulator } from '@massivesms/testkit/carriers';
import { ReceiverConfigError, startWebhookReceiver } from '@massivesms/testkit/receiver';
import { environmentHelp } from './help.ts';

const USAGE =
  'usage: massivesms simulate telnyx|twilio|receiver [--port N]\n' +
  '  telnyx    [--api-key KEY]\n' +
  '  twilio    [--account-sid AC...] [--auth-token TOKEN]\n' +
  '  receiver  [--secret whsec_...]... [--name NAME]  (a fresh secret when none is given; repeat --secret for a rotation)';

/** `massivesms simulate --help`: what each simulator does, its options and defaults. */
export function simulateHelp(): string {
  return `${USAGE}

  Runs one simulator until SIGTERM or SIGINT; its first stdout line is JSON with its address and
  credentials. --port 0 (the default) lets the OS pick a free port.
  telnyx, twilio  a carrier's messaging API (defaults: --api-key KEY_SIMULATOR; --account-sid AC0…0,
                  --auth-token simulator-auth-token); faults through POST /__admin/faults, what it
                  sent at GET /__admin/ledger.
  receiver        a customer's webhook endpoint verifying signatures (--name default); more endpoints
                  through POST /__admin/endpoints, the deliveries at GET /__admin/received.

${environmentHelp([])}`;
}

/** Runs a simulator until SIGTERM/SIGINT; returns the exit code. */
export async function runSimulator(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    console.error(`massivesms simulate: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(simulateHelp());
    return 0;
  }
  const port = Number(values.port);
  const kind = positionals[0];
  if (
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65_535 ||
    (kind !== 'telnyx' && kind !== 'twilio' && kind !== 'receiver') ||
    positionals.length !== 1
  ) {
    const problem =
      kind === undefined
        ? 'name a simulator'
        : positionals.length !== 1 || (kind !== 'telnyx' && kind !== 'twilio' && kind !== 'receiver')
          ? `unknown simulator '${positionals.join(' ')}'`
          : '--port must be a whole number from 0 to 65535';
    console.error(`massivesms simulate: ${problem}\n${USAGE}`);
    return 2;
  }
  let sim: { close(): Promise<void> };
  let info: Record<string, unknown>;
  if (kind === 'telnyx') {
    const telnyx = await startTelnyxSimulator({ apiKey: values['api-key'], port });
    sim = telnyx;
    info = { baseUrl: telnyx.baseUrl, apiKey: values['api-key'], publicKey: telnyx.publicKey };
  } else if (kind === 'twilio') {
    const twilio = await startTwilioSimulator({
      accountSid: values['account-sid'],
      authToken: values['auth-token'],
      port,
    });
    sim = twilio;
    info = { baseUrl: twilio.baseUrl, accountSid: values['account-sid'], authToken: values['auth-token'] };
  } else {
    // 24 random bytes: the minimum the webhooks reference asks of a real endpoint secret.
    const secrets = values.secret ?? [`whsec_${randomBytes(24).toString('base64')}`];
    const receiver = await startWebhookReceiver({ port });
    let url: string;
    try {
      url = receiver.endpoint(values.name, { secrets });
    } catch (error) {
      await receiver.close();
      if (!(error instanceof ReceiverConfigError)) throw error;
      console.error(`massivesms simulate receiver: ${error.message}`);
      return 2;
    }
    sim = receiver;
    info = { origin: receiver.origin, url, name: values.name, secrets };
  }
  console.log(JSON.stringify({ simulator: kind, ...info }));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await sim.close();
  return 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '0' },
      'api-key': { type: 'string', default: 'KEY_SIMULATOR' },
      'account-sid': { type: 'string', default: `AC${'0'.repeat(32)}` },
      'auth-token': { type: 'string', default: 'simulator-auth-token' },
      secret: { type: 'string', multiple: true },
      name: { type: 'string', default: 'default' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
