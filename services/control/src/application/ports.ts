import type { ControllerState, EndpointState, ProcessingEvent } from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';

/** Who is calling: an operator, or a controller's own token. */
export type Principal =
  | { readonly kind: 'operator'; readonly tokenId: string }
  | { readonly kind: 'controller'; readonly tokenId: string; readonly controllerId: string };

/** Publishes state and processing events (compacted topics and the audit topic). */
export interface ControlEvents {
  controller(state: ControllerState): Promise<void>;
  endpoint(endpointId: string, state: EndpointState | null): Promise<void>;
  processing(event: Omit<ProcessingEvent, 'eventId' | 'occurredAt' | 'service' | 'region'>): Promise<void>;
}

/** Checks a webhook URL against the SSRF policy; throws a refusal with a machine-readable reason. */
export type UrlGuard = (url: string) => Promise<void>;

/** Wall clock, injectable so tests can move time (rotation grace periods, subprocessor notice dates). */
export type Clock = () => Date;

/** A transaction scope over the control tables. */
export type Transact = <T>(fn: (tx: DbTx) => Promise<T>) => Promise<T>;
