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
}

/** Runs `fn` in one transaction: claims become visible only if the batch's outputs were produced. */
export type RouterStore = <T>(fn: (tx: RouterTx) => Promise<T>) => Promise<T>;
