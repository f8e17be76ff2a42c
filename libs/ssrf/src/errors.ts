import type { AddressCategory, EmbeddingForm } from './classify.ts';

/** Why a URL was refused; stable, so the control plane and the webhooks service can branch on it. */
export type SsrfRefusalReason =
  | 'invalid_url'
  | 'url_too_long'
  | 'scheme_not_https'
  | 'credentials_in_url'
  | 'port_not_allowed'
  | 'unresolvable'
  | 'non_public_address';

/** What the message may mention besides the reason; all of it comes from the customer's own URL or our policy. */
export interface SsrfRefusalContext {
  readonly category?: AddressCategory;
  readonly embeddedIn?: EmbeddingForm;
  readonly maxLength?: number;
  readonly httpAllowed?: boolean;
  readonly port?: number;
}

const EMBEDDING_WORDS: Readonly<Record<EmbeddingForm, string>> = {
  ipv4Mapped: 'IPv4-mapped IPv6 address',
  ipv4Compatible: 'IPv4-compatible IPv6 address',
  ipv4Translated: 'IPv4-translated IPv6 address',
  nat64: 'NAT64 IPv6 address',
};

function describe(reason: SsrfRefusalReason, context: SsrfRefusalContext): string {
  switch (reason) {
    case 'invalid_url':
      return 'it is not a valid absolute URL';
    case 'url_too_long':
      return `it is longer than ${context.maxLength ?? 2048} characters`;
    case 'scheme_not_https':
      return context.httpAllowed ? 'only http and https URLs are accepted' : 'only https URLs are accepted';
    case 'credentials_in_url':
      return 'it contains a user name or password; put credentials elsewhere';
    case 'port_not_allowed':
      return context.port === undefined ? 'its port is not allowed' : `port ${context.port} is not allowed`;
    case 'unresolvable':
      return 'its host name could not be resolved';
    case 'non_public_address': {
      const where =
        context.embeddedIn === undefined ? '' : `, inside an ${EMBEDDING_WORDS[context.embeddedIn]}`;
      return `its host is or resolves to a non-public address (${context.category ?? 'reserved'}${where})`;
    }
  }
}

/**
 * A webhook URL was refused. `code` and `reason` are stable for callers to branch on; the message names
 * at most the address category, never a resolved address, so it can go to the customer as is.
 */
export class SsrfRefusedError extends Error {
  override readonly name = 'SsrfRefusedError';
  readonly code = 'WEBHOOK_URL_REFUSED';
  readonly reason: SsrfRefusalReason;
  /** The category of the first offending address, for `non_public_address` only. */
  readonly category: AddressCategory | undefined;
  /** Set when the offending address was an IPv6 form judged by the IPv4 address inside it. */
  readonly embeddedIn: EmbeddingForm | undefined;
  constructor(reason: SsrfRefusalReason, context: SsrfRefusalContext = {}, options?: ErrorOptions) {
    super(`webhook URL refused: ${describe(reason, context)}`, options);
    this.reason = reason;
    this.category = context.category;
    this.embeddedIn = context.embeddedIn;
  }
}
