// The tracing bootstrap, loaded before anything else: `node --import <this file> bin/massivesms.ts
// <service>`, or as the first import of bin/massivesms.ts (which does both, harmlessly). Starts the
// OpenTelemetry SDK when the OTEL_* variables configure an exporter, and does nothing otherwise.
import { startTracing } from './tracing-sdk.ts';

const services = new Set(['router', 'dispatcher', 'webhooks', 'control', 'audit']);
const command = process.argv[2];
// `massivesms router --help` prints and exits: it starts nothing, an exporter neither.
const help = process.argv.slice(3).some((arg) => arg === '--help' || arg === '-h');

if (command !== undefined && services.has(command) && !help) {
  await startTracing(process.env, `massivesms-${command}`);
}
