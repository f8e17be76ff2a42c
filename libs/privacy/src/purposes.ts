/**
 * The purposes (fideslang data uses) for which a controller may instruct us to process personal data over
 * SMS. The list is closed on purpose: every entry is something an SMS route actually does, so an
 * instruction cannot smuggle in secondary uses. In particular `functional.service.improve` (product
 * improvement, analytics) is not here: recipients' numbers and message bodies are never used to improve
 * our own service (DPA §2: processing only "as instructed by the Controller" to provide the Service).
 */
export const PURPOSE_VOCABULARY = [
  {
    purpose: 'essential.service.notifications.sms',
    description:
      'Transactional notifications the recipient expects from the controller (order, delivery, ' +
      'appointment or account updates).',
  },
  {
    purpose: 'essential.service.authentication.sms',
    description: 'One-time codes for sign-in, verification or transaction confirmation.',
  },
  {
    purpose: 'marketing.communications.sms',
    description: 'Promotional messages; only to recipients who opted in, and stopped by STOP.',
  },
] as const satisfies readonly PurposeDefinition[];

/** One allowed purpose with the description shown to controllers. */
export interface PurposeDefinition {
  readonly purpose: string;
  readonly description: string;
}

/** A purpose from the SMS vocabulary. */
export type Purpose = (typeof PURPOSE_VOCABULARY)[number]['purpose'];

/** Every allowed purpose name, in vocabulary order. */
export const PURPOSES: readonly Purpose[] = PURPOSE_VOCABULARY.map((entry) => entry.purpose);

// A Set rather than `in`/indexing: "toString" or "__proto__" must not pass as a purpose.
const PURPOSE_SET: ReadonlySet<string> = new Set(PURPOSES);

/** Guard for purposes; deny by default, so anything outside the vocabulary is refused. */
export function isPurpose(value: unknown): value is Purpose {
  return typeof value === 'string' && PURPOSE_SET.has(value);
}
