import {
  type Cell,
  type ControllerState,
  controllerStateSchema,
  decodeJsonOrThrow,
  topicFor,
} from '@massivesms/contracts';
import { type MessageBus, type StateView, startStateView } from '@massivesms/messaging';
import {
  type ControllerKeyStore,
  type ControllerKeys,
  Keyring,
  type Kms,
  toControllerId,
  toWrappedKey,
} from '@massivesms/privacy';

/** Controllers of this cell with their current instruction (a view of controllers.v1) and their keys. */
export interface ControllerDirectory {
  get(controllerId: string): ControllerState | undefined;
  /** Unwrapped keys; rejects when they were destroyed (terminated controller). */
  keys(controllerId: string): Promise<ControllerKeys>;
}

/**
 * The controllers of this cell as the control plane published them (controllers.v1), with a keyring
 * that unwraps their keys through the KMS. A controller missing from the view has no keys here.
 */
export async function startControllerDirectory(options: {
  bus: MessageBus;
  cell: Cell;
  namespace: string;
  kms: Kms;
  onUndecodable?: (error: unknown) => void;
}): Promise<ControllerDirectory & { view: StateView<ControllerState> }> {
  const view = await startStateView({
    bus: options.bus,
    topic: topicFor(options.cell, 'controllers.v1', options.namespace),
    decode: (value) => decodeJsonOrThrow(controllerStateSchema, value),
    revision: (c) => c.revision,
    onUndecodable: (_record, error) => options.onUndecodable?.(error),
  });
  const store: ControllerKeyStore = {
    async get(controllerId) {
      const c = view.get(controllerId);
      return c
        ? {
            status: 'active',
            keys: { dataKey: toWrappedKey(c.keys.dataKey), pseudonymKey: toWrappedKey(c.keys.pseudonymKey) },
          }
        : undefined;
    },
    insert: async () => false, // only the control plane creates keys
    destroy: async () => {},
  };
  const keyring = new Keyring({ kms: options.kms, store });
  // A controller that disappears from the view (shredded) must not stay usable from the cache.
  view.onChange((controllerId, value) => {
    if (value === undefined) void keyring.forget(toControllerId(controllerId));
  });
  return {
    view,
    get: (id) => view.get(id),
    keys: (id) => keyring.get(toControllerId(id)),
  };
}
