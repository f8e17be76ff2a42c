// Breach scope (DPA §9, GDPR Art. 33): what a subprocessor or a service held of each controller's data
// in a window, as the ledger recorded it. Types, the scope's parsing and the encryption each category
// had there; the SQL is in adapters/pg-breach-scope.ts, the draft notice in notice.ts.
import { findSubprocessor, SUBPROCESSORS, type SubprocessorRegistry } from '@massivesms/privacy';

/** The services whose processing events the ledger holds (processing event `service`). */
export const LEDGER_SERVICES = ['control', 'router', 'dispatcher', 'webhooks', 'audit'] as const;
export type LedgerService = (typeof LEDGER_SERVICES)[number];

/** What was breached: a subprocessor (event `subprocessor`) or one of our services (event `service`). */
export type BreachTarget =
  | { readonly kind: 'subprocessor'; readonly name: string }
  | { readonly kind: 'service'; readonly name: LedgerService };

/** A question the caller got wrong (CLI: exit 2; HTTP: 400). */
export class BreachScopeInputError extends Error {
  override readonly name = 'BreachScopeInputError';
}

const SUBPROCESSOR_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const CONTROLLER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A service name is a service; any other well-formed name is a subprocessor (a past one may be gone from the registry). */
export function parseBreachTarget(value: string | undefined): BreachTarget {
  if (value === undefined || value === '')
    throw new BreachScopeInputError('give --subprocessor (telnyx, twilio or a service)');
  if ((LEDGER_SERVICES as readonly string[]).includes(value))
    return { kind: 'service', name: value as LedgerService };
  if (!SUBPROCESSOR_NAME.test(value))
    throw new BreachScopeInputError(
      `--subprocessor must be a subprocessor name (lower-case letters, digits, -) or one of: ${LEDGER_SERVICES.join(', ')}`,
    );
  return { kind: 'subprocessor', name: value };
}

/** An instant with its offset (ISO 8601), e.g. 2026-12-01T00:00:00Z. */
export function parseInstant(name: string, value: string | undefined): Date {
  if (value === undefined)
    throw new BreachScopeInputError(`give --${name} (an ISO 8601 instant, e.g. 2026-12-01T00:00:00Z)`);
  const at = new Date(value);
  if (!ISO_INSTANT.test(value) || Number.isNaN(at.getTime()))
    throw new BreachScopeInputError(
      `--${name} must be an ISO 8601 instant with its offset, e.g. 2026-12-01T00:00:00Z`,
    );
  return at;
}

/** The period [from, to): from before to. */
export function parsePeriod(from: string | undefined, to: string | undefined): { from: Date; to: Date } {
  const period = { from: parseInstant('from', from), to: parseInstant('to', to) };
  if (period.from.getTime() >= period.to.getTime())
    throw new BreachScopeInputError('--from must be before --to');
  return period;
}

export function parseControllerId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!CONTROLLER_ID.test(value)) throw new BreachScopeInputError('--controller must be a controller id');
  return value;
}

/** Whether a category was encrypted where the breach happened; null when it does not apply or is not known. */
export interface Encryption {
  readonly atRest: boolean | null;
  readonly inTransit: boolean | null;
  /** Why, in one sentence (goes into the notice). */
  readonly basis: string;
}

export interface CategoryScope {
  readonly category: string;
  /** Processing records (ledger entries) carrying this category. */
  readonly records: number;
  /** Distinct subject pseudonyms among them. */
  readonly subjects: number;
  readonly encryption: Encryption;
}

export interface ControllerScope {
  readonly controllerId: string;
  /** Distinct data subjects, by the pseudonym the events carry (keyed per controller). */
  readonly subjects: number;
  /** Entries concerning personal data (a data category or a subject). */
  readonly records: number;
  /** Of those, records that name no subject (e.g. a webhook delivery): each may add one subject. */
  readonly recordsWithoutSubject: number;
  /** Distinct messages those records concern. */
  readonly messages: number;
  /** Every matching entry, personal data or not. */
  readonly events: number;
  readonly firstAt: string;
  readonly lastAt: string;
  readonly regions: readonly string[];
  readonly categories: readonly CategoryScope[];
  readonly operations: readonly {
    readonly service: string;
    readonly operation: string;
    readonly outcome: string;
    readonly count: number;
  }[];
  /** Records processed outside the controller's home region, by transfer mechanism. */
  readonly transfers: readonly { readonly transferMechanism: string; readonly count: number }[];
  /** The instructions (`id@version#sha256`) the records were processed under. */
  readonly instructions: readonly string[];
  /** The subject pseudonyms, when asked for (never the numbers). */
  readonly subjectPseudonyms?: readonly string[];
}

export interface BreachScope {
  readonly format: 'massivesms.breach-scope/1';
  readonly target: BreachTarget;
  /** The registry's entry, for a subprocessor it knows. */
  readonly subprocessor: {
    readonly legalEntity: string;
    readonly purpose: string;
    /** Where it processes, by the home region of the controllers it serves. */
    readonly locations: Readonly<Record<string, string>>;
  } | null;
  readonly cell: string | null;
  readonly period: { readonly from: string; readonly to: string };
  /** Computed over ledger entries 1 … ledgerSeq (the same answer later, the ledger being append-only). */
  readonly ledgerSeq: number;
  readonly generatedAt: string;
  /** Sums over controllers: pseudonyms are keyed per controller, so one person messaged by two counts twice. */
  readonly totals: {
    readonly controllers: number;
    readonly subjects: number;
    readonly records: number;
    readonly recordsWithoutSubject: number;
    readonly messages: number;
  };
  readonly controllers: readonly ControllerScope[];
}

/** Recipients' personal data categories (what the carriers receive, DPA §2). */
const PERSONAL = new Set(['user.contact.phone_number', 'user.content.private']);
const AT_REST =
  "AES-256-GCM field encryption under the controller's data key (libs/privacy), in the service's tables and Kafka records";

/**
 * Where the data was encrypted, by where the breach happened and the category. The events say which
 * categories went where; what each place does with them is fixed by the pipeline's design:
 * - a carrier receives the number and the text in clear (it has to, to send the SMS), over HTTPS to the
 *   registry's host for the region: encrypted in transit, not under our keys at rest;
 * - our services store and produce those fields sealed with the controller's key; control's own
 *   records (configuration, `system.operations`) hold no recipient data.
 * A breach that also exposed the KMS master key defeats the at-rest encryption: the notice says so.
 */
export function encryptionOf(
  target: BreachTarget,
  category: string,
  registry: SubprocessorRegistry = SUBPROCESSORS,
): Encryption {
  if (!PERSONAL.has(category))
    return category === 'system.operations'
      ? { atRest: null, inTransit: null, basis: 'configuration records: no personal data of recipients' }
      : { atRest: null, inTransit: null, basis: 'category not known to this report: check what it holds' };
  if (target.kind === 'subprocessor') {
    const entry = findSubprocessor(target.name, registry);
    if (!entry?.dataCategories.includes(category))
      return {
        atRest: null,
        inTransit: null,
        basis: 'not in the subprocessor registry for this category: check',
      };
    const hosts = Object.values(entry.regions).map((r) => r.host);
    return {
      atRest: false,
      inTransit: true,
      basis: `sent over HTTPS (TLS) to ${hosts.join(' / ')}; ${entry.legalEntity} holds it in clear to deliver the SMS (not under MassiveSMS's keys)`,
    };
  }
  switch (target.name) {
    case 'webhooks':
      return {
        atRest: true,
        inTransit: true,
        basis: `${AT_REST}; delivered to the controller's own endpoint over HTTPS`,
      };
    case 'router':
    case 'dispatcher':
      return {
        atRest: true,
        inTransit: true,
        basis: `${AT_REST}; sealed before it is produced, and sent to carriers over HTTPS`,
      };
    default:
      return { atRest: null, inTransit: null, basis: `${target.name} records pseudonyms and ids only` };
  }
}

/** The registry's description of a subprocessor target, or null. */
export function describeSubprocessor(
  target: BreachTarget,
  registry: SubprocessorRegistry = SUBPROCESSORS,
): BreachScope['subprocessor'] {
  if (target.kind !== 'subprocessor') return null;
  const entry = findSubprocessor(target.name, registry);
  return entry
    ? {
        legalEntity: entry.legalEntity,
        purpose: entry.purpose,
        locations: Object.fromEntries(
          Object.entries(entry.regions).map(([region, r]) => [region, r.location]),
        ),
      }
    : null;
}
