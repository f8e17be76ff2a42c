import type { ControllerState, EndpointState, ProcessingEvent, WebhookCommand } from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';

/** Who is calling: an operator, or a controller's own token. */
export type Principal =
  | { readonly kind: 'operator'; readonly tokenId: string }
  | { readonly kind: 'controller'; readonly tokenId: string; readonly controllerId: string };

/** Builds state and processing events (compacted topics, audit topic) and stores them with the change. */
export interface ControlEvents {
  controller(state: ControllerState): OutgoingRecord;
  /** The tombstone of a terminated controller on the compacted controllers topic. */
  controllerRemoved(controllerId: string): OutgoingRecord;
  endpoint(endpointId: string, state: EndpointState | null): OutgoingRecord;
  processing(event: Omit<ProcessingEvent, 'eventId' | 'occurredAt' | 'service' | 'region'>): OutgoingRecord;
  /** A resend or recover command for the webhooks service, which owns the deliveries. */
  webhookCommand(command: WebhookCommand): OutgoingRecord;
  /** Stores the records inside `tx`, to be published once it commits (DESIGN §5.0). */
  announce(tx: DbTx, records: readonly OutgoingRecord[]): Promise<void>;
  /** Called after a transaction that announced something committed (wakes the publisher). */
  committed(): void;
}

/** Checks a webhook URL against the SSRF policy; throws a refusal with a machine-readable reason. */
export type UrlGuard = (url: string) => Promise<void>;

/** Wall clock, injectable so tests can move time (rotation grace periods, subprocessor notice dates). */
export type Clock = () => Date;

/** A transaction scope over the control tables. */
export type Transact = <T>(fn: (tx: DbTx) => Promise<T>) => Promise<T>;

/** One recorded attempt of a webhook delivery (times as ISO 8601 text). */
export interface WebhookAttemptView {
  readonly attempt: number;
  readonly startedAt: string;
  readonly httpStatus: number | null;
  readonly latencyMs: number;
  readonly errorClass: string | null;
  readonly responseExcerpt: string | null;
  readonly nextAttemptAt: string | null;
}

/** A webhook delivery as the recovery API shows it: never the body (it may hold a number). */
export interface WebhookDeliveryView {
  readonly webhookId: string;
  readonly endpointId: string;
  readonly messageId: string | null;
  readonly eventType: string;
  readonly state: 'pending' | 'delivered' | 'dead';
  readonly attempts: readonly WebhookAttemptView[];
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
}

/** What the webhooks service made of a command: `done` (requeued so many) or `refused` (why). */
export interface WebhookCommandOutcome {
  readonly outcome: 'done' | 'refused';
  readonly requeued: number;
  readonly reason: string | null;
  readonly finishedAt: string;
}

/**
 * The webhooks service's deliveries, as it shows them (its cell-internal HTTP routes). Every call is
 * scoped to a controller: another controller's deliveries are never seen. Changes to them are never
 * made here: they travel as commands (ControlEvents.webhookCommand).
 */
export interface WebhookDeliveriesPort {
  forMessage(controllerId: string, messageId: string): Promise<readonly WebhookDeliveryView[]>;
  forEndpoint(
    controllerId: string,
    endpointId: string,
    since: Date,
    limit: number,
  ): Promise<readonly WebhookDeliveryView[]>;
  /** One delivery; undefined for an unknown or another controller's one. */
  delivery(controllerId: string, webhookId: string): Promise<WebhookDeliveryView | undefined>;
  /**
   * Why the webhooks service disabled the endpoint (410 Gone, continuous failure) at this revision or
   * later; undefined when it did not. Deliveries to it are dead-lettered until a newer revision.
   */
  disabledReason(endpointId: string, revision: number): Promise<string | undefined>;
  /** The outcome of one of the controller's commands; undefined while it is not carried out. */
  commandOutcome(controllerId: string, commandId: string): Promise<WebhookCommandOutcome | undefined>;
}

/** A period of processing: events that occurred in [from, to). */
export interface AuditPeriod {
  readonly from: Date;
  readonly to: Date;
}

/** What the ledger recorded for one controller in a period (Art. 30(2) records are built from it). */
export interface AuditProcessingSummary {
  readonly origin: string;
  readonly entries: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly operations: readonly {
    readonly service: string;
    readonly operation: string;
    readonly outcome: string;
    readonly dataCategories: readonly string[];
    readonly purposes: readonly string[];
    readonly count: number;
  }[];
  readonly subprocessors: readonly {
    readonly subprocessor: string;
    readonly region: string;
    readonly transferMechanism: string | null;
    readonly count: number;
  }[];
}

/**
 * The audit service's ledger, as it answers for one controller at a time (its cell-internal HTTP
 * routes): the export bundle (DPA §10) and a summary of its processing. Never another controller's.
 */
export interface AuditLedgerPort {
  /** The ledger's log origin and its published verifier key (`<origin>+<key id>+<key>`). */
  verifierKey(): Promise<{ readonly origin: string; readonly verifierKey: string }>;
  exportBundle(
    controllerId: string,
    period: AuditPeriod,
  ): Promise<
    | { readonly kind: 'bundle'; readonly bytes: Uint8Array; readonly manifest: { readonly entries: number } }
    | { readonly kind: 'not_checkpointed' }
    | { readonly kind: 'too_large'; readonly entries: number; readonly max: number }
  >;
  processingSummary(controllerId: string, period: AuditPeriod): Promise<AuditProcessingSummary>;
  /** The newest signed checkpoint of the ledger, or null before the first one. */
  latestCheckpoint(): Promise<AuditCheckpointView | null>;
}

/** A signed tree head of the audit ledger (C2SP signed note). */
export interface AuditCheckpointView {
  readonly origin: string;
  readonly treeSize: number;
  /** Base64 of the RFC 6962 root hash. */
  readonly rootHash: string;
  readonly signedAt: string;
  /** The signed note as published (verifiable with the ledger's verifier key). */
  readonly note: string;
}
