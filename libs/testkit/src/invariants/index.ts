// The invariant checker of the delivery guarantees (DESIGN.md §2, §5.0): checkRun() after a run, or
// checkInvariants() on data collected by hand. Imports no vitest, so scripts (the demo) can use it.
export {
  type CheckOptions,
  checkInvariants,
  formatReport,
  type InvariantReport,
  type Violation,
  type ViolationKind,
  violationKinds,
  violationsOf,
} from './check.ts';
export {
  type ProcessingExpectation,
  type ProcessingRule,
  processingRules,
  routeRule,
  sendRule,
  webhookDeliverRule,
} from './processing-rules.ts';
export {
  acceptancesOf,
  type CellTopicRecords,
  checkRun,
  checkRunUntilClean,
  collectRun,
  fetchCarrierAcceptances,
  fetchWebhookAttempts,
  type RunSources,
  readCellTopics,
  requestRefOf,
  subscriptionsOf,
} from './readers.ts';
export type {
  AttributedSend,
  CarrierAcceptance,
  DeliveredWebhook,
  RecordSource,
  RequestRef,
  RunFacts,
  RunRecord,
  UndecodableRecord,
  WebhookAttempt,
  WebhookSubscription,
} from './run.ts';
export { callbackTarget, webhookStatusChange } from './run.ts';
