import {
  type ControllerState,
  controllerStateSchema,
  encodeJson,
  instructionRef,
} from '@massivesms/contracts';
import type { MessageBus } from '@massivesms/messaging';
import {
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';

/**
 * Publishes controller `acme` (Telnyx then Twilio, notifications only) on `controllersTopic` the way
 * the control plane does, with keys wrapped by a fresh local KMS, which it returns.
 */
export async function publishBenchController(bus: MessageBus, controllersTopic: string): Promise<LocalKms> {
  const kms = new LocalKms(generateMasterKey());
  const keys = await new Keyring({ kms, store: new InMemoryControllerKeyStore() }).create(
    toControllerId('acme'),
  );
  const sha = 'b'.repeat(64);
  const controller: ControllerState = {
    controllerId: 'acme',
    name: 'Acme',
    region: 'us',
    revision: 1,
    keys: { dataKey: keys.dataKey, pseudonymKey: keys.pseudonymKey },
    instruction: {
      id: 'acme-sms',
      version: 1,
      sha256: sha,
      ref: instructionRef('acme-sms', 1, sha),
      publishedAt: new Date().toISOString(),
      document: { purposes: ['essential.service.notifications.sms'], subprocessors: ['telnyx', 'twilio'] },
    },
    updatedAt: new Date().toISOString(),
  };
  await bus
    .producer()
    .send([{ topic: controllersTopic, key: 'acme', value: encodeJson(controllerStateSchema, controller) }]);
  return kms;
}
