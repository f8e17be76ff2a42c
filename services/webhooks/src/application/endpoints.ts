import type { KeyObject } from 'node:crypto';
import {
  type Cell,
  decodeJsonOrThrow,
  type EndpointState,
  endpointStateSchema,
  topicFor,
} from '@massivesms/contracts';
import type { MessageBus, StateView } from '@massivesms/messaging';
import { startStateView } from '@massivesms/messaging';
import { type ControllerKeys, decryptField, toControllerId } from '@massivesms/privacy';
import { signingKey } from '../domain/signing.ts';

/** The endpoints of this cell as the control plane published them (endpoints.v1), indexed by controller. */
export interface EndpointDirectory {
  get(endpointId: string): EndpointState | undefined;
  /** The controller's enabled endpoints subscribed to `eventType`. */
  subscribed(controllerId: string, eventType: string): EndpointState[];
  /** The controller's enabled endpoints (operational events go to the healthy ones among them). */
  ofController(controllerId: string): EndpointState[];
  readonly view: StateView<EndpointState>;
}

export async function startEndpointDirectory(options: {
  bus: MessageBus;
  cell: Cell;
  namespace: string;
}): Promise<EndpointDirectory> {
  const view = await startStateView({
    bus: options.bus,
    topic: topicFor(options.cell, 'endpoints.v1', options.namespace),
    decode: (value) => decodeJsonOrThrow(endpointStateSchema, value),
    revision: (e) => e.revision,
  });
  const byController = new Map<string, Map<string, EndpointState>>();
  const index = (endpointId: string, value: EndpointState | undefined) => {
    for (const endpoints of byController.values()) endpoints.delete(endpointId);
    if (!value) return;
    const endpoints = byController.get(value.controllerId) ?? new Map<string, EndpointState>();
    endpoints.set(endpointId, value);
    byController.set(value.controllerId, endpoints);
  };
  view.onChange(index);
  await view.ready;
  for (const endpoint of view.values()) index(endpoint.endpointId, endpoint);
  const enabled = (controllerId: string) =>
    [...(byController.get(controllerId)?.values() ?? [])].filter((e) => e.enabled);
  return {
    view,
    get: (id) => view.get(id),
    ofController: enabled,
    subscribed: (controllerId, eventType) =>
      enabled(controllerId).filter((e) => (e.eventTypes as string[]).includes(eventType)),
  };
}

/**
 * Signing keys by endpoint state (one object per published revision, so a rotation or a new secret
 * brings a new entry and the old one goes with its state) and secret id.
 */
const signingKeyCache = new WeakMap<EndpointState, Map<string, KeyObject>>();

/**
 * The keys to sign with now: one per secret not past its grace period, newest first (a rotation
 * signs with both). Decrypted with the controller's data key, as the control plane sealed them, the
 * first time a revision signs; kept as KeyObjects after that (no decryption, no key import per
 * attempt). The caller checks the controller's keys first, so a terminated controller's endpoints
 * sign nothing even with their keys cached.
 */
export function signingKeys(endpoint: EndpointState, keys: ControllerKeys, now: Date): KeyObject[] {
  let cached = signingKeyCache.get(endpoint);
  if (!cached) {
    cached = new Map();
    signingKeyCache.set(endpoint, cached);
  }
  const byId = cached;
  return endpoint.secrets
    .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
    .map((s) => {
      let key = byId.get(s.secretId);
      if (!key) {
        key = signingKey(
          decryptField(keys.dataKey, s.secret, {
            controllerId: toControllerId(endpoint.controllerId),
            recordId: endpoint.endpointId,
            field: `secret:${s.secretId}`,
          }),
        );
        byId.set(s.secretId, key);
      }
      return key;
    });
}
