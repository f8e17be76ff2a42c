import { z } from 'zod';
import { PrivacyError } from './errors.ts';
import type { Brand, Region } from './types.ts';
import { REGIONS } from './types.ts';

/**
 * Safeguards that make a subprocessor's processing outside the controller's home region lawful. Only
 * mechanisms for the processor-to-subprocessor leg belong here: SCC module 2 (controller-to-processor)
 * covers the controller's relation with us (DPA §7), never a flow to a carrier.
 */
export const TRANSFER_MECHANISMS = ['EU-US DPF', 'SCC 2021/914 module 3'] as const;
/** A transfer mechanism from the closed vocabulary. */
export type TransferMechanism = (typeof TRANSFER_MECHANISMS)[number];

const TRANSFER_MECHANISM_SET: ReadonlySet<string> = new Set(TRANSFER_MECHANISMS);

/** Guard for transfer mechanisms. */
export function isTransferMechanism(value: unknown): value is TransferMechanism {
  return typeof value === 'string' && TRANSFER_MECHANISM_SET.has(value);
}

/**
 * Countries (ISO 3166-1 alpha-2) where processing counts as inside each region. `eu` is the EEA plus the
 * UK and Switzerland because DPA §7 only requires safeguards for transfers outside those.
 */
export const REGION_COUNTRIES: Readonly<Record<Region, readonly string[]>> = {
  us: ['US'],
  eu: [
    ...['AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR', 'HU'],
    ...['IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK'],
    ...['IS', 'LI', 'NO'], // EEA, outside the EU
    ...['CH', 'GB'],
  ],
};

/** DPA §6: at least 30 days' notice before a new subprocessor may receive personal data. */
export const NOTICE_PERIOD_DAYS = 30;

/** Where a subprocessor processes data for controllers homed in one region. */
export interface SubprocessorLocation {
  /** Human-readable processing location, as published on the subprocessor list. */
  readonly location: string;
  /** ISO 3166-1 alpha-2 country of processing; decides whether a transfer mechanism is needed. */
  readonly country: string;
  /** API host we call for this region (region pinning is checked against it). */
  readonly host: string;
}

/** One subprocessor as recorded in the registry. */
export interface Subprocessor {
  /** Stable identifier used in instructions, e.g. `telnyx`. */
  readonly name: string;
  readonly legalEntity: string;
  /** What we engage it for, e.g. `sms.delivery`. */
  readonly purpose: string;
  readonly route: 'primary' | 'failover';
  /** Regions it serves; a region missing here cannot use it at all. */
  readonly regions: Readonly<Partial<Record<Region, SubprocessorLocation>>>;
  /** fideslang data categories it receives, e.g. `user.contact.phone_number`. */
  readonly dataCategories: readonly string[];
  /** UTC calendar day (`YYYY-MM-DD`) the notice went out; before it the entry is not public. */
  readonly noticeDate: string;
  /** UTC calendar day (`YYYY-MM-DD`) from whose start it may be used; ≥ noticeDate + 30 days. */
  readonly effectiveDate: string;
  /** Mechanisms in place with it, for regions where it processes outside the home region. */
  readonly transferMechanisms: readonly TransferMechanism[];
}

/** A registry that passed defineSubprocessorRegistry: deeply frozen and known to respect the notice period. */
export type SubprocessorRegistry = Brand<readonly Subprocessor[], 'SubprocessorRegistry'>;

/** The registry itself is inconsistent (a programming error, so it is thrown at module load). */
export class SubprocessorRegistryError extends PrivacyError {
  override readonly name = 'SubprocessorRegistryError';
  override readonly code = 'PRIVACY_SUBPROCESSOR_REGISTRY_INVALID';
  /** Every problem found, each prefixed with the entry it concerns. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`subprocessor registry is invalid: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const DAY_MS = 86_400_000;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Start of a `YYYY-MM-DD` UTC day in epoch ms, or undefined if it is not a real calendar date. */
function dayStart(text: string): number | undefined {
  const match = DATE_PATTERN.exec(text);
  if (match === null) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  // Date.UTC rolls 2025-02-30 over to March; a registry typo must not shift a legal date silently.
  const back = new Date(ms);
  const real =
    back.getUTCFullYear() === year && back.getUTCMonth() === month - 1 && back.getUTCDate() === day;
  return real ? ms : undefined;
}

const dottedName = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const calendarDate = z.string().refine((text) => dayStart(text) !== undefined, 'must be a YYYY-MM-DD date');
const locationSchema = z.strictObject({
  location: z.string().min(1),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code'),
  host: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a lower-case host name'),
});
const entrySchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'must be lower-case letters, digits and -'),
  legalEntity: z.string().min(1),
  purpose: z.string().regex(dottedName, 'must be a dotted name'),
  route: z.enum(['primary', 'failover']),
  regions: z
    .strictObject({ us: locationSchema.optional(), eu: locationSchema.optional() } satisfies Record<
      Region,
      unknown
    >)
    .refine((regions) => REGIONS.some((region) => regions[region] !== undefined), 'must serve a region'),
  dataCategories: z
    .array(z.string().regex(dottedName, 'must be a fideslang data category'))
    .min(1)
    .refine((list) => new Set(list).size === list.length, 'must not repeat a category'),
  noticeDate: calendarDate,
  effectiveDate: calendarDate,
  transferMechanisms: z.array(z.enum(TRANSFER_MECHANISMS)),
});

/** Validates and deep-freezes a registry; throws SubprocessorRegistryError listing every problem. */
export function defineSubprocessorRegistry(entries: readonly Subprocessor[]): SubprocessorRegistry {
  const problems: string[] = [];
  const names = new Set<string>();
  entries.forEach((entry, index) => {
    const label = typeof entry?.name === 'string' ? entry.name : `#${index}`;
    const parsed = entrySchema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push(`${[label, ...issue.path.map(String)].join('.')}: ${issue.message}`);
      }
    }
    if (names.has(label)) problems.push(`${label}: listed twice`);
    names.add(label);
    const notice = typeof entry?.noticeDate === 'string' ? dayStart(entry.noticeDate) : undefined;
    const effective = typeof entry?.effectiveDate === 'string' ? dayStart(entry.effectiveDate) : undefined;
    if (notice !== undefined && effective !== undefined && effective < notice + NOTICE_PERIOD_DAYS * DAY_MS) {
      problems.push(
        `${label}.effectiveDate: ${entry.effectiveDate} is less than ${NOTICE_PERIOD_DAYS} days after ` +
          `noticeDate ${entry.noticeDate} (DPA §6)`,
      );
    }
  });
  if (problems.length > 0) throw new SubprocessorRegistryError(problems);
  // A private frozen copy: mutating the caller's array later cannot bypass the checks above.
  return deepFreeze(structuredClone(entries)) as SubprocessorRegistry;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * The subprocessors that receive recipients' personal data on the SMS route (DPA §6 lists the others,
 * which never see it). Both carriers were authorised in the DPA from the start; their dates are recorded
 * like any later addition so the rule has no exceptions.
 */
export const SUBPROCESSORS: SubprocessorRegistry = defineSubprocessorRegistry([
  {
    name: 'telnyx',
    legalEntity: 'Telnyx LLC',
    purpose: 'sms.delivery',
    route: 'primary',
    regions: {
      us: { location: 'United States', country: 'US', host: 'api.telnyx.com' },
      eu: { location: 'EU (Frankfurt, Germany)', country: 'DE', host: 'api.telnyx.eu' },
    },
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    noticeDate: '2024-06-03',
    effectiveDate: '2024-07-03',
    transferMechanisms: ['EU-US DPF', 'SCC 2021/914 module 3'],
  },
  {
    name: 'twilio',
    legalEntity: 'Twilio Inc.',
    purpose: 'sms.delivery',
    route: 'failover',
    regions: {
      us: { location: 'United States (US1)', country: 'US', host: 'api.twilio.com' },
      eu: { location: 'Ireland (IE1, Dublin)', country: 'IE', host: 'api.dublin.ie1.twilio.com' },
    },
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    noticeDate: '2024-06-03',
    effectiveDate: '2024-07-03',
    transferMechanisms: ['EU-US DPF', 'SCC 2021/914 module 3'],
  },
]);

/** Lifecycle of a subprocessor at an instant: `unknown` also covers entries whose notice is still ahead. */
export type SubprocessorStatus = 'unknown' | 'noticed' | 'effective';

/** Returns the registry entry for a name, whatever its status. */
export function findSubprocessor(
  name: string,
  registry: SubprocessorRegistry = SUBPROCESSORS,
): Subprocessor | undefined {
  return registry.find((entry) => entry.name === name);
}

function statusOf(entry: Subprocessor, now: Date): SubprocessorStatus {
  const t = now.getTime();
  // Written so an invalid Date (NaN) fails closed as `unknown`, never as `effective`.
  if (!(t >= (dayStart(entry.noticeDate) ?? Number.NaN))) return 'unknown';
  if (!(t >= (dayStart(entry.effectiveDate) ?? Number.NaN))) return 'noticed';
  return 'effective';
}

/** Whether a subprocessor may receive personal data at `now`: only `effective` allows any flow. */
export function subprocessorStatus(
  name: string,
  now: Date,
  registry: SubprocessorRegistry = SUBPROCESSORS,
): SubprocessorStatus {
  const entry = findSubprocessor(name, registry);
  return entry === undefined ? 'unknown' : statusOf(entry, now);
}

/** Whether serving a controller homed in `homeRegion` means processing outside it (needs a mechanism). */
export function processesOutsideRegion(subprocessor: Subprocessor, homeRegion: Region): boolean {
  const location = subprocessor.regions[homeRegion];
  return location !== undefined && !REGION_COUNTRIES[homeRegion].includes(location.country);
}

/** One row of the public subprocessor list (`GET /subprocessors`); plain JSON data. */
export interface PublicSubprocessor {
  readonly name: string;
  readonly legalEntity: string;
  readonly purpose: string;
  readonly route: 'primary' | 'failover';
  readonly regions: readonly ({ readonly region: Region } & SubprocessorLocation)[];
  readonly dataCategories: readonly string[];
  readonly transferMechanisms: readonly TransferMechanism[];
  readonly noticeDate: string;
  readonly effectiveDate: string;
  readonly status: 'noticed' | 'effective';
}

/** The published list at `now`: announced subprocessors (noticed or effective), in registry order. */
export function publicSubprocessorList(
  now: Date,
  registry: SubprocessorRegistry = SUBPROCESSORS,
): PublicSubprocessor[] {
  const list: PublicSubprocessor[] = [];
  for (const entry of registry) {
    const status = statusOf(entry, now);
    if (status === 'unknown') continue; // not announced yet: publishing it early would pre-date the notice
    list.push({
      name: entry.name,
      legalEntity: entry.legalEntity,
      purpose: entry.purpose,
      route: entry.route,
      regions: REGIONS.flatMap((region) => {
        const location = entry.regions[region];
        return location === undefined ? [] : [{ region, ...location }];
      }),
      dataCategories: [...entry.dataCategories],
      transferMechanisms: [...entry.transferMechanisms],
      noticeDate: entry.noticeDate,
      effectiveDate: entry.effectiveDate,
      status,
    });
  }
  return list;
}
