// Commands from the control plane (resend one delivery, recover an endpoint's dead ones), carried out
// by this service because it owns the deliveries. Each command takes effect once (its id is recorded
// in the transaction that requeues), and a processing event saying what was requeued, for whom,
// commits with it.
import {
  type Cell,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
  type WebhookCommand,
} from '@massivesms/contracts';
import type { Db, DbTx } from '@massivesms/db';
import { writeOutbox } from '@massivesms/outbox';
import type { PgCommandStore } from '../adapters/pg-commands.ts';
import { type PgDeliveryStore, WEBHOOKS_OUTBOX } from '../adapters/pg-delivery-store.ts';

export interface CommandDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly db: Db;
  readonly deliveries: PgDeliveryStore;
  readonly commands: PgCommandStore;
  readonly now: () => Date;
  /** Told after a command that requeued something committed (wakes the relay and the worker). */
  readonly wrote: () => void;
}

type Result = { outcome: 'done' | 'refused'; requeued: number; reason: string | null };

/**
 * Carries out one command; `seen` when it was carried out before. Deliveries of another controller
 * are never touched: the command names its controller and every statement is scoped to it.
 */
export async function carryOut(deps: CommandDeps, command: WebhookCommand): Promise<Result | 'seen'> {
  const at = deps.now();
  const result = await deps.db.transaction(async (tx) => {
    const claimed = await deps.commands.claim(
      tx,
      { ...command, requestedAt: new Date(command.requestedAt) },
      at,
    );
    if (!claimed) return 'seen' as const;
    const result = await requeue(deps, tx, command, at);
    await deps.commands.finish(tx, command.commandId, result);
    if (result.outcome === 'done')
      await writeOutbox(tx, WEBHOOKS_OUTBOX, [processingRecord(deps, command, result, at)]);
    return result;
  });
  if (result !== 'seen' && result.outcome === 'done') deps.wrote();
  return result;
}

async function requeue(deps: CommandDeps, tx: DbTx, command: WebhookCommand, at: Date): Promise<Result> {
  const refused = (reason: string): Result => ({ outcome: 'refused', requeued: 0, reason });
  // Disabled by this service (410 Gone, continuous failure) since the revision the customer saw:
  // sending again would only dead-letter again.
  const health = await deps.deliveries.health(command.endpointId);
  if (
    health?.state === 'disabled' &&
    health.controllerId === command.controllerId &&
    (health.disabledAtRevision ?? 0) >= command.endpointRevision
  )
    return refused(health.disabledReason ?? 'disabled');
  if (command.kind === 'resend') {
    const row = await deps.deliveries.get(command.webhookId);
    if (!row || row.controllerId !== command.controllerId || row.endpointId !== command.endpointId)
      return refused('not_found');
    if (row.state === 'pending') return refused('pending');
    const n = await deps.deliveries.requeue({ webhookId: command.webhookId }, at, tx);
    return n > 0 ? { outcome: 'done', requeued: n, reason: null } : refused('pending');
  }
  const n = await deps.deliveries.requeue(
    { controllerId: command.controllerId, endpointId: command.endpointId, since: new Date(command.since) },
    at,
    tx,
  );
  return { outcome: 'done', requeued: n, reason: null };
}

function processingRecord(deps: CommandDeps, command: WebhookCommand, result: Result, at: Date) {
  const event: ProcessingEvent = {
    eventId: eventIdFor('webhooks', 'webhook.requeue', command.commandId, 0),
    occurredAt: at.toISOString(),
    service: 'webhooks',
    operation: 'webhook.requeue',
    controllerId: command.controllerId,
    dataCategories: ['system.operations'],
    region: deps.cell,
    actor: command.requestedBy,
    outcome: 'performed',
    reason: `${command.kind} command ${command.commandId}: endpoint ${command.endpointId}, requeued ${result.requeued}`,
  };
  return {
    topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
    key: command.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: { region: deps.cell, controller: command.controllerId, schema: 'audit.processing.v1' },
  };
}
