import {
  type Cell,
  type ControllerState,
  type DispatchRecord,
  dispatchRecordSchema,
  encodeJson,
  instructionRef,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import { encryptField, type Keyring, pseudonymise, toControllerId, toE164 } from '@massivesms/privacy';

const SHA = 'c'.repeat(64);

/** A controller as the control plane publishes it, with keys created in `keyring`. */
export async function controllerFixture(
  keyring: Keyring,
  id: string,
  subprocessors: string[],
  region: Cell = 'us',
): Promise<ControllerState> {
  const keys = await keyring.create(toControllerId(id));
  return {
    controllerId: id,
    name: id,
    region,
    revision: 1,
    keys: { dataKey: keys.dataKey, pseudonymKey: keys.pseudonymKey },
    instruction: {
      id: `${id}-sms`,
      version: 1,
      sha256: SHA,
      ref: instructionRef(`${id}-sms`, 1, SHA),
      publishedAt: new Date().toISOString(),
      document: { purposes: ['essential.service.notifications.sms'], subprocessors },
    },
    updatedAt: new Date().toISOString(),
  };
}

/** A dispatch record as the router writes it (number and body encrypted, keyed by pseudonym). */
export async function dispatchFixture(
  keyring: Keyring,
  options: {
    topic: string;
    controllerId: string;
    messageId: string;
    to: string;
    from?: string;
    region?: Cell;
    acceptedAt?: Date;
    validUntil?: Date;
    sendAfter?: Date;
    /** Encrypt the body for another record, as if it had been moved here: it never decrypts. */
    undecryptable?: boolean;
  },
): Promise<OutgoingRecord> {
  const { controllerId, messageId, to } = options;
  const keys = await keyring.get(toControllerId(controllerId));
  const ctx = (field: string) => ({ controllerId: toControllerId(controllerId), recordId: messageId, field });
  const pseudonym = pseudonymise(keys.pseudonymKey, toE164(to));
  const record: DispatchRecord = {
    messageId,
    controllerId,
    campaignId: 'c1',
    purpose: 'essential.service.notifications.sms',
    region: options.region ?? 'us',
    instruction: instructionRef(`${controllerId}-sms`, 1, SHA),
    recipient: encryptField(keys.dataKey, to, ctx('to')),
    recipientPseudonym: pseudonym,
    from: options.from ?? '+14155550100',
    senderKind: 'e164',
    body: encryptField(
      keys.dataKey,
      `Message ${messageId}`,
      options.undecryptable ? { ...ctx('body'), recordId: `${messageId}-elsewhere` } : ctx('body'),
    ),
    encoding: 'GSM-7',
    segments: 1,
    acceptedAt: (options.acceptedAt ?? new Date()).toISOString(),
    ...(options.validUntil ? { validUntil: options.validUntil.toISOString() } : {}),
    ...(options.sendAfter ? { sendAfter: options.sendAfter.toISOString() } : {}),
  };
  return { topic: options.topic, key: pseudonym, value: encodeJson(dispatchRecordSchema, record) };
}
