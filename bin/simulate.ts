// `massivesms simulate telnyx|twilio --port N`: a carrier simulator for manual testing and the demo.
// Faults are driven through `POST /__admin/faults`; the ledger is at `GET /__admin/ledger`.
import { parseArgs } from 'node:util';
import { startTelnyxSimulator, startTwilioSimulator } from '@massivesms/testkit/carriers';

/** Runs a simulator until SIGTERM/SIGINT; returns the exit code. */
export async function runSimulator(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '0' },
      'api-key': { type: 'string', default: 'KEY_SIMULATOR' },
      'account-sid': { type: 'string', default: `AC${'0'.repeat(32)}` },
      'auth-token': { type: 'string', default: 'simulator-auth-token' },
    },
  });
  const port = Number(values.port);
  const kind = positionals[0];
  if (!Number.isInteger(port) || port < 0 || port > 65_535 || (kind !== 'telnyx' && kind !== 'twilio')) {
    console.error(
      'usage: massivesms simulate telnyx|twilio [--port N] (receiver arrives with the webhooks service)',
    );
    return 2;
  }
  let sim: { baseUrl: string; close(): Promise<void> };
  let info: Record<string, string>;
  if (kind === 'telnyx') {
    const telnyx = await startTelnyxSimulator({ apiKey: values['api-key'], port });
    sim = telnyx;
    info = { baseUrl: telnyx.baseUrl, apiKey: values['api-key'], publicKey: telnyx.publicKey };
  } else {
    sim = await startTwilioSimulator({
      accountSid: values['account-sid'],
      authToken: values['auth-token'],
      port,
    });
    info = { baseUrl: sim.baseUrl, accountSid: values['account-sid'], authToken: values['auth-token'] };
  }
  console.log(JSON.stringify({ simulator: kind, ...info }));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await sim.close();
  return 0;
}
