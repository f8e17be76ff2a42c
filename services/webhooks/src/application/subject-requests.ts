import {
  type Cell,
  type PrivacyRequest,
  type PrivacyResult,
  privacyAckRecords,
  privacyExportContext,
  privacySubjectContext,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  ControllerKeysDestroyedError,
  ControllerKeysNotFoundError,
  DecryptionFailedError,
  decryptField,
  encryptField,
  toControllerId,
} from '@massivesms/privacy';
import { bodyContext } from './intake.ts';

/** One stored delivery body, sealed under the controller's key. */
export interface SealedDelivery {
  readonly webhookId: string;
  readonly messageId: string;
  readonly body: string;
}

/** The webhooks service's rows about one subject. */
export interface WebhooksSubjectStore {
  /** The controller's message deliveries, a page at a time, in (messageId, webhookId) order. */
  deliveriesAfter(
    controllerId: string,
    after: { messageId: string; webhookId: string } | undefined,
    limit: number,
  ): Promise<SealedDelivery[]>;
  /** Every delivery (with its attempts) of these messages, as plain JSON, bodies still sealed. */
  deliveriesOf(controllerId: string, messageIds: readonly string[]): Promise<Record<string, unknown>[]>;
  /** In one transaction: run `fn` with erase and announce. */
  transact<T>(
    fn: (tx: {
      erase(controllerId: string, messageIds: readonly string[]): Promise<Record<string, number>>;
      /** Deletes every row about the controller (a termination); answers rows deleted per table. */
      eraseController(controllerId: string): Promise<Record<string, number>>;
      announce(records: readonly OutgoingRecord[]): Promise<void>;
    }) => Promise<T>,
  ): Promise<T>;
}

export interface WebhooksSubjectDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly keys: (controllerId: string) => Promise<ControllerKeys | undefined>;
  readonly store: WebhooksSubjectStore;
  readonly now: () => Date;
  /** Deliveries decrypted per page while looking for the subject (default 1,000). */
  readonly pageSize?: number;
}

/**
 * The messages whose webhooks name the subject. Deliveries carry no pseudonym, so the controller's
 * delivery bodies are decrypted a page at a time and the `to` of each compared with the number; a
 * message counts when any of its deliveries names it (`accepted` and `suppressed` always do). Cost:
 * one decryption per stored delivery of the controller (a few µs each), paid only by this request.
 */
async function messagesOfSubject(
  deps: WebhooksSubjectDeps,
  keys: ControllerKeys,
  controllerId: string,
  number: string,
): Promise<string[]> {
  const found = new Set<string>();
  let after: { messageId: string; webhookId: string } | undefined;
  for (;;) {
    const page = await deps.store.deliveriesAfter(controllerId, after, deps.pageSize ?? 1_000);
    for (const d of page) {
      if (found.has(d.messageId)) continue;
      try {
        const body = JSON.parse(decryptField(keys.dataKey, d.body, bodyContext(controllerId, d.webhookId)));
        if (body?.data?.to === number) found.add(d.messageId);
      } catch (error) {
        // A body that does not decrypt names nobody any more (nothing to find in it).
        if (!(error instanceof DecryptionFailedError || error instanceof SyntaxError)) throw error;
      }
    }
    const last = page.at(-1);
    if (!last || page.length < (deps.pageSize ?? 1_000)) break;
    after = { messageId: last.messageId, webhookId: last.webhookId };
  }
  return [...found].sort();
}

const TERMINATION_RETAINED =
  'nothing: every delivery, attempt, queue entry, endpoint health record and command of the controller is deleted';

/**
 * One data-subject request as the webhooks service answers it: access exports every delivery (body
 * decrypted) and attempt about the subject's messages; erasure deletes them (attempts and queue
 * entries too, pending ones included: the controller asked for them to be gone). Restriction and
 * objection concern future sends, which the router and dispatcher stop: nothing to do here. A
 * termination deletes everything the service holds about the controller.
 */
export async function answerWebhooksSubjectRequest(
  deps: WebhooksSubjectDeps,
  request: PrivacyRequest,
): Promise<void> {
  const now = deps.now();
  const where = { cell: deps.cell, namespace: deps.namespace };
  const ack = (result: PrivacyResult, before: readonly OutgoingRecord[] = []) =>
    deps.store.transact(async (tx) => {
      await tx.announce([...before, ...privacyAckRecords(where, 'webhooks', request, result, now)]);
    });
  if (request.region !== deps.cell) return ack({ outcome: 'failed', reason: 'wrong region' });
  if (request.type === 'termination') {
    // No key needed: everything of the controller goes, pending deliveries included.
    return deps.store.transact(async (tx) => {
      const erased = await tx.eraseController(request.controllerId);
      const result: PrivacyResult = { outcome: 'done', erased, retained: [TERMINATION_RETAINED] };
      await tx.announce(privacyAckRecords(where, 'webhooks', request, result, now));
    });
  }
  if (request.type === 'restriction' || request.type === 'objection') return ack({ outcome: 'done' });

  let keys: ControllerKeys | undefined;
  try {
    keys = await deps.keys(request.controllerId);
  } catch (error) {
    if (!(error instanceof ControllerKeysNotFoundError || error instanceof ControllerKeysDestroyedError))
      throw error;
  }
  if (!keys) return ack({ outcome: 'failed', reason: "the controller's keys are not available" });
  const controllerId = toControllerId(request.controllerId);
  const number = decryptField(keys.dataKey, request.subject, {
    ...privacySubjectContext(controllerId, request.requestId),
    controllerId,
  });
  const messageIds = await messagesOfSubject(deps, keys, request.controllerId, number);

  if (request.type === 'access') {
    const deliveries = (await deps.store.deliveriesOf(request.controllerId, messageIds)).map((d) => {
      const { body, ...rest } = d as { body: string; webhookId: string };
      return {
        ...rest,
        body: JSON.parse(decryptField(keys.dataKey, body, bodyContext(controllerId, rest.webhookId))),
      };
    });
    const context = privacyExportContext(request.controllerId, request.requestId, 'webhooks');
    return ack({
      outcome: 'done',
      export: encryptField(keys.dataKey, JSON.stringify({ deliveries }), { ...context, controllerId }),
    });
  }
  await deps.store.transact(async (tx) => {
    const erased = await tx.erase(request.controllerId, messageIds);
    await tx.announce(
      privacyAckRecords(
        where,
        'webhooks',
        request,
        {
          outcome: 'done',
          erased,
          retained: ['nothing: every delivery and attempt about the subject is deleted'],
        },
        now,
      ),
    );
  });
}
