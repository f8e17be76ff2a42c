// Carrier simulators: Telnyx and Twilio speaking their real wire formats, with fault injection.
// Import from here (no vitest dependency) in code that runs outside tests, e.g. `massivesms simulate`.
//
// Admin HTTP API on each simulator (loopback only, no auth, not part of any carrier's API):
//   GET    /__admin/faults   what is configured
//   POST   /__admin/faults   a FaultConfig as JSON, e.g. {"next":[{"status5xx":503}],"receipts":{"duplicateReceipts":true}}
//   DELETE /__admin/faults   clear everything
//   GET    /__admin/ledger   accepted messages and webhook delivery attempts (test data: contains numbers),
//                            and `accepted`, the total (entries are only the kept ones with `retainMessages`)
//   GET    /__admin/counts   {accepted, receiptsPosted, receiptAttempts}: totals, no records
// `retainMessages: N` keeps the newest N messages (ledger, lookups, receipt records), for long runs whose
// memory must stay flat; by default everything is kept. See retention.ts.
// `refuse` closes the listening socket for real (clients get ECONNREFUSED: nothing was sent), so over
// HTTP it needs `forMs`; in process, `await sim.faults.refuseConnections()` / `acceptConnections()`.
export {
  type ConnectionSwitch,
  type FaultConfig,
  FaultConfigError,
  FaultController,
  type FaultSnapshot,
  type PermanentError,
  type ReceiptBehaviour,
  type RecipientFault,
  type RequestFault,
} from './faults.ts';
export type { DeliveryAttempt, DeliveryRecord } from './http.ts';
export { Ledger, type LedgerEntry } from './ledger.ts';
export { type CarrierSegments, carrierSegments } from './segments.ts';
export {
  type Ed25519KeyPair,
  signTelnyxWebhook,
  startTelnyxSimulator,
  type TelnyxInbound,
  type TelnyxSimulator,
  type TelnyxSimulatorOptions,
  telnyxPublicKeyBase64,
} from './telnyx.ts';
export {
  startTwilioSimulator,
  type TwilioInbound,
  type TwilioSimulator,
  type TwilioSimulatorOptions,
  twilioSignature,
} from './twilio.ts';
