import {
  type ControllerState,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  instructionRef,
} from '@massivesms/contracts';
import type { MessageBus } from '@massivesms/messaging';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';

// The keyring behind each KMS publishBenchController returned, so an endpoint can be sealed for it.
const keyrings = new WeakMap<LocalKms, Keyring>();

/**
 * Publishes controller `acme` (Telnyx then Twilio, notifications only) on `controllersTopic` the way
 * the control plane does, with keys wrapped by a fresh local KMS, which it returns.
 */
export async function publishBenchController(bus: MessageBus, controllersTopic: string): Promise<LocalKms> {
  const kms = new LocalKms(generateMasterKey());
  const keyring = new Keyring({ kms, store: new InMemoryControllerKeyStore() });
  const keys = await keyring.create(toControllerId('acme'));
  keyrings.set(kms, keyring);
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

/**
 * Publishes a webhook endpoint of the bench controller (`kms` is what publishBenchController
 * returned) on `endpointsTopic` the way the control plane does: revision 1, its one `whsec_` secret
 * sealed with the controller's data key (field `secret:<secretId>`, record = the endpoint id),
 * subscribed to `message.delivered` only unless `eventTypes` says otherwise.
 */
export async function publishBenchEndpoint(
  bus: MessageBus,
  endpointsTopic: string,
  kms: LocalKms,
  endpoint: {
    endpointId: string;
    url: string;
    secret: string;
    eventTypes?: EndpointState['eventTypes'];
  },
): Promise<void> {
  const keyring = keyrings.get(kms);
  if (!keyring) throw new Error('publishBenchEndpoint: publish the bench controller with this KMS first');
  const controllerId = toControllerId('acme');
  const keys = await keyring.get(controllerId);
  const state: EndpointState = {
    endpointId: endpoint.endpointId,
    controllerId: 'acme',
    url: endpoint.url,
    eventTypes: endpoint.eventTypes ?? ['message.delivered'],
    enabled: true,
    revision: 1,
    secrets: [
      {
        secretId: 'sec_1',
        secret: encryptField(keys.dataKey, endpoint.secret, {
          controllerId,
          recordId: endpoint.endpointId,
          field: 'secret:sec_1',
        }),
        createdAt: new Date().toISOString(),
        expiresAt: null,
      },
    ],
    updatedAt: new Date().toISOString(),
  };
  await bus
    .producer()
    .send([
      { topic: endpointsTopic, key: endpoint.endpointId, value: encodeJson(endpointStateSchema, state) },
    ]);
}
