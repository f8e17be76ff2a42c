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
 * The secrets to sign with now: every one not past its grace period, newest first (a rotation signs
 * with both). Decrypted with the controller's data key, as the control plane sealed them.
 */
export function signingSecrets(endpoint: EndpointState, keys: ControllerKeys, now: Date): string[] {
  return endpoint.secrets
    .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
    .map((s) =>
      decryptField(keys.dataKey, s.secret, {
        controllerId: toControllerId(endpoint.controllerId),
        recordId: endpoint.endpointId,
        field: `secret:${s.secretId}`,
      }),
    );
}
