import type { OutgoingRecord } from '@massivesms/messaging';

export type { ControllerDirectory } from '@massivesms/directory';

/** A message decision to record once; `key` identifies the request (controller + message id). */
export interface Claim {
  readonly controllerId: string;
  readonly messageId: string;
  readonly outcome: 'dispatched' | 'rejected' | 'suppressed' | 'expired';
}

/** What the router reads and writes in its own tables, one round trip each per batch. */
export interface RouterTx {
  /** Active suppressions of these subjects: `controllerId:pseudonym` → kind. */
  activeSuppressions(
    subjects: readonly { controllerId: string; pseudonym: string }[],
  ): Promise<Map<string, string>>;
  /** Records the decisions; returns the `controllerId:messageId` keys that were new. */
  claim(claims: readonly Claim[], at: Date): Promise<Set<string>>;
  /** Stores the records that announce the decisions (the outbox), in the same transaction. */
  announce(records: readonly OutgoingRecord[]): Promise<void>;
}

/** Runs `fn` in one transaction: the claims and the records that announce them commit together. */
export type RouterStore = <T>(fn: (tx: RouterTx) => Promise<T>) => Promise<T>;
