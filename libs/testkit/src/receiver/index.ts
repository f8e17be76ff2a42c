// Webhook receiver simulator: what a customer's endpoint looks like in tests, the demo and
// benchmarks. Deliveries go to `/hooks/<name>` and are verified with both the `standardwebhooks` and
// the `svix` package. Import from here (no vitest dependency), e.g. in `massivesms simulate receiver`.
//
// Admin HTTP API on the same server (loopback by default, no auth, not part of any customer's API):
//   POST   /__admin/endpoints  {name, secrets, behaviour?} registers or replaces an endpoint → {name, url}
//   GET    /__admin/received   {received, summary}: every recorded request and the counts
//   DELETE /__admin/received   forgets the records → {cleared}
//   GET    /__admin/counts     {received, answered2xx}: requests recorded and those answered 2xx (cheap to poll)
// Bad input is answered 400 with {error} naming the field, e.g. {"error":"behaviour.status: expected an integer in 200..599"}.
export { type ReceiverBehaviour, ReceiverConfigError } from './behaviour.ts';
export type { ReceivedWebhook, ReceiverCounts, ReceiverSummary } from './log.ts';
export {
  type EndpointOptions,
  MAX_BODY_BYTES,
  type ReceiverOptions,
  startWebhookReceiver,
  type WebhookReceiver,
} from './receiver.ts';
export type { Verification } from './verify.ts';
